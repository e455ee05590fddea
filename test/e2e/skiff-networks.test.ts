// skiff's bridge networks for real (netavark, aardvark-dns, iptables) with the built CLI and
// its own store: `run -d -p` to busybox httpd fetched from the host, `port` and inspect's
// NetworkSettings, two containers on a user network reaching each other by name, and the
// `network` commands' output. Root only: netavark needs it.
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSkiffTestStore, type Run, type SkiffTestStore, stdoutOf } from '../lib/cli.js';

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;
let store: SkiffTestStore;
let image: string;

function skiff(...args: string[]): Promise<Run> {
  return store.skiff(args);
}

/** A host port nothing listens on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Retries until the server in the container answers. */
async function fetchWhenUp(url: string): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await fetchText(url);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

const HTTPD =
  'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www';

beforeAll(async () => {
  if (!isRoot) return;
  store = await createSkiffTestStore('skiff-net-e2e', inject('baseImageLayout'), `busybox-${tag}`);
  image = store.image;
});

afterAll(async () => {
  if (!store) return;
  await skiff('rm', '-a', '-f');
  for (const net of ['front', 'back', 'extra', 'pruned'])
    await skiff('network', 'rm', '-f', n(net));
  await store.remove();
});

describe.skipIf(!isRoot)('skiff networks (skipped: netavark needs root)', () => {
  it('run -d -p HOST:80 publishes busybox httpd to the host; port and inspect show it', async () => {
    // A user network of its own: the default network's bridge (skiff0) is shared by every
    // store on the host, and other test files use theirs at the same time.
    expect(await stdoutOf(skiff('network', 'create', n('front')))).toBe(`${n('front')}\n`);
    const port = await freePort();
    const id = (
      await stdoutOf(
        skiff(
          'run',
          '-d',
          '--name',
          n('web'),
          '--network',
          n('front'),
          '-p',
          `${port}:80`,
          image,
          'sh',
          '-c',
          HTTPD,
        ),
      )
    ).trim();
    const res = await fetchWhenUp(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(res.body).toBe(`hello from ${id.slice(0, 12)}\n`);

    expect(await stdoutOf(skiff('port', n('web')))).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(await stdoutOf(skiff('port', n('web'), '80'))).toBe(`0.0.0.0:${port}\n`);
    expect(await stdoutOf(skiff('port', n('web'), '80/tcp'))).toBe(`0.0.0.0:${port}\n`);
    const missing = await skiff('port', n('web'), '81');
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('failed to find published port "81"');
    expect(await stdoutOf(skiff('port', '-a'))).toContain(
      `${id.slice(0, 12)}\t80/tcp -> 0.0.0.0:${port}\n`,
    );
    expect(
      await stdoutOf(skiff('ps', '--filter', `name=${n('web')}`, '--format', '{{.Ports}}')),
    ).toBe(`0.0.0.0:${port}->80/tcp\n`);

    const [c] = JSON.parse(await stdoutOf(skiff('inspect', n('web')))) as {
      NetworkSettings: Record<string, unknown> & {
        Networks: Record<string, Record<string, unknown>>;
      };
      HostConfig: Record<string, unknown>;
    }[];
    const ns = c!.NetworkSettings;
    expect(ns.Ports).toEqual({ '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
    expect(Object.keys(ns.Networks)).toEqual([n('front')]);
    const net = ns.Networks[n('front')]!;
    expect(net.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(net.Gateway).toMatch(/^\d+\.\d+\.\d+\.1$/);
    expect(net.MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(net.NetworkID).toBe(n('front'));
    // podman fills the top level only for the default network.
    expect(ns.IPAddress).toBe('');
    expect(c!.HostConfig).toMatchObject({
      NetworkMode: 'bridge',
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: String(port) }] },
    });

    await stdoutOf(skiff('rm', '-f', n('web')));
    await expect(fetchText(`http://127.0.0.1:${port}/`)).rejects.toThrow();

    // Without --network: podman's default network (not started here).
    await stdoutOf(skiff('create', '--name', n('default'), image, 'true'));
    expect(
      await stdoutOf(
        skiff(
          'inspect',
          '--format',
          '{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}',
          n('default'),
        ),
      ),
    ).toBe('bridge skiff\n');
    await stdoutOf(skiff('rm', n('default')));
  });

  it('two containers on a user network reach each other by name and alias', async () => {
    await stdoutOf(
      skiff(
        'run',
        '-d',
        '--name',
        n('server'),
        '--network',
        n('front'),
        '--network-alias',
        n('alias'),
        image,
        'sh',
        '-c',
        HTTPD,
      ),
    );
    const client = await skiff(
      'run',
      '--rm',
      '--network',
      n('front'),
      image,
      'sh',
      '-c',
      `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://${n('server')}/ && break; sleep 0.3; done; wget -qO- http://${n('alias')}/`,
    );
    expect(client.stderr).toBe('');
    expect(client.stdout).toMatch(/^hello from [0-9a-f]{12}\nhello from [0-9a-f]{12}\n$/);

    // Not on the network: the name does not resolve.
    const outside = await skiff('run', '--rm', '--network', 'none', image, 'nslookup', n('server'));
    expect(outside.code).not.toBe(0);

    const [c] = JSON.parse(await stdoutOf(skiff('inspect', n('server')))) as {
      NetworkSettings: { IPAddress: string; Networks: Record<string, Record<string, unknown>> };
    }[];
    const net = c!.NetworkSettings.Networks[n('front')]!;
    expect(net.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(net.Aliases).toContain(n('alias'));
    // podman fills the top level only for the default network.
    expect(c!.NetworkSettings.IPAddress).toBe('');
  });

  it("network create/ls/inspect/exists/connect/disconnect/rm/prune print podman's output", async () => {
    const third = 100 + (Number.parseInt(tag.slice(0, 2), 16) % 100);
    const subnet = `10.199.${third}.0/24`;
    expect(
      await stdoutOf(
        skiff(
          'network',
          'create',
          '-d',
          'bridge',
          '--subnet',
          subnet,
          '--gateway',
          `10.199.${third}.254`,
          '--internal',
          '--disable-dns',
          '--label',
          'suite=networks',
          n('back'),
        ),
      ),
    ).toBe(`${n('back')}\n`);
    const dup = await skiff('network', 'create', n('back'));
    expect(dup.code).toBe(125);
    expect(dup.stderr).toBe(
      `Error: network name ${n('back')} already used: network already exists\n`,
    );

    const table = await stdoutOf(skiff('network', 'ls'));
    expect(table.split('\n')[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER$/);
    expect(table).toMatch(new RegExp(`^[0-9a-f]{12}  ${n('back')}\\s+bridge$`, 'm'));
    expect(table).toMatch(/^[0-9a-f]{12} {2}skiff\s+bridge$/m);
    const quiet = (await stdoutOf(skiff('network', 'ls', '-q'))).split('\n');
    expect(quiet).toEqual(expect.arrayContaining([n('back'), n('front'), 'skiff']));
    expect(
      await stdoutOf(
        skiff(
          'network',
          'ls',
          '--filter',
          'label=suite=networks',
          '--format',
          '{{.Name}} {{.Driver}}',
        ),
      ),
    ).toBe(`${n('back')} bridge\n`);
    expect(await stdoutOf(skiff('network', 'ls', '-q', '--filter', `name=^${n('back')}$`))).toBe(
      `${n('back')}\n`,
    );

    const inspected = await stdoutOf(skiff('network', 'inspect', n('back')));
    expect(inspected.startsWith('[\n     {\n          "name": ')).toBe(true);
    const [net] = JSON.parse(inspected) as Record<string, unknown>[];
    expect(Object.keys(net!)).toEqual([
      'name',
      'id',
      'driver',
      'network_interface',
      'created',
      'subnets',
      'ipv6_enabled',
      'internal',
      'dns_enabled',
      'labels',
      'ipam_options',
    ]);
    expect(net).toMatchObject({
      name: n('back'),
      driver: 'bridge',
      subnets: [{ subnet, gateway: `10.199.${third}.254` }],
      internal: true,
      dns_enabled: false,
      labels: { suite: 'networks' },
      ipam_options: { driver: 'host-local' },
    });
    expect(
      await stdoutOf(
        skiff(
          'network',
          'inspect',
          '--format',
          '{{.Name}} {{.Internal}} {{.DNSEnabled}}',
          n('back'),
        ),
      ),
    ).toBe(`${n('back')} true false\n`);
    const json = JSON.parse(await stdoutOf(skiff('network', 'ls', '--format', 'json'))) as {
      name: string;
    }[];
    expect(json.map((x) => x.name)).toContain(n('back'));
    expect((await skiff('network', 'exists', n('back'))).code).toBe(0);
    expect((await skiff('network', 'exists', n('nope'))).code).toBe(1);
    const missing = await skiff('network', 'inspect', n('nope'));
    expect(missing).toMatchObject({ code: 125, stdout: '[]\n' });

    // connect / disconnect a running container.
    await stdoutOf(
      skiff('run', '-d', '--name', n('multi'), '--network', n('front'), image, 'sleep', '600'),
    );
    expect(await stdoutOf(skiff('network', 'connect', n('back'), n('multi')))).toBe('');
    const nets = await stdoutOf(
      skiff(
        'inspect',
        '--format',
        '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}',
        n('multi'),
      ),
    );
    expect(nets.trim().split(' ').sort()).toEqual([n('back'), n('front')].sort());
    const ips = await stdoutOf(skiff('exec', n('multi'), 'ip', '-4', '-o', 'addr'));
    expect(ips).toContain(`10.199.${third}.`);
    const inUse = await skiff('network', 'rm', n('back'));
    expect(inUse.code).toBe(2);
    expect(await stdoutOf(skiff('network', 'disconnect', n('back'), n('multi')))).toBe('');
    expect(await stdoutOf(skiff('exec', n('multi'), 'ip', '-4', '-o', 'addr'))).not.toContain(
      `10.199.${third}.`,
    );

    // rm -f removes the containers that use the network.
    await stdoutOf(skiff('create', '--name', n('user'), '--network', n('back'), image, 'true'));
    expect(await stdoutOf(skiff('network', 'rm', '-f', n('back')))).toBe(`${n('back')}\n`);
    expect((await skiff('inspect', n('user'))).code).toBe(125);
    const gone = await skiff('network', 'rm', n('back'));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('network not found');
    const def = await skiff('network', 'rm', 'skiff');
    expect(def.code).toBe(125);

    await stdoutOf(skiff('network', 'create', n('pruned')));
    const pruned = (await stdoutOf(skiff('network', 'prune', '-f'))).split('\n');
    expect(pruned).toContain(n('pruned'));
    expect(pruned).not.toContain('skiff');
    // front is used by the server container: kept.
    expect(pruned).not.toContain(n('front'));
    expect((await skiff('network', 'exists', n('front'))).code).toBe(0);
  });
});
