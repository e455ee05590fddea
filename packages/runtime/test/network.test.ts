import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore, type Store } from '@skiff/storage';
import { findBinary } from '@skiff/sys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostsFile, resolvConf } from '../src/files.js';
import {
  type Container,
  type ContainerOptions,
  ContainerRuntime,
  connectNetwork,
  createNetwork,
  disconnectNetwork,
  ensureDefaultNetwork,
  inspectNetwork,
  listNetworks,
  type NetworkConfig,
  parsePublish,
  pickFreeSubnet,
  pruneNetworks,
  removeNetwork,
} from '../src/index.js';
import { hostSubnets } from '../src/netavark.js';
import { allocateIp, deleteNetworkConfig, releaseIp } from '../src/network.js';
import { freePort } from '../src/ports.js';
import { parseCidr, subnetContains, subnetsOverlap } from '../src/subnet.js';
import { isRoot, storeWithBusybox } from './helpers.js';

const tag = () => randomBytes(3).toString('hex');

describe('network configs, subnets and ports (no root needed)', () => {
  let dir: string;
  let store: Store;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-net-unit-'));
    store = openStore({ root: path.join(dir, 'root'), runroot: path.join(dir, 'run') });
  });
  afterAll(() => {
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('picks the first /24 from 10.89.0.0 that overlaps no used subnet', () => {
    expect(pickFreeSubnet([])).toEqual(parseCidr('10.89.0.0/24'));
    const used = [parseCidr('10.89.0.0/24'), parseCidr('10.89.1.7/32'), parseCidr('10.88.0.0/16')];
    expect(pickFreeSubnet(used)).toEqual(parseCidr('10.89.2.0/24'));
    // A wide route covering the whole 10.89/16 pushes it to 10.90.0.0.
    expect(pickFreeSubnet([parseCidr('10.89.0.0/16')])).toEqual(parseCidr('10.90.0.0/24'));
  });

  it('parses -p like podman: [ip:][host:]container[/proto], ranges', () => {
    expect(parsePublish('8080:80')).toEqual({
      host_ip: '',
      container_port: 80,
      host_port: 8080,
      range: 1,
      protocol: 'tcp',
    });
    expect(parsePublish('127.0.0.1:5353:53/udp')).toMatchObject({
      host_ip: '127.0.0.1',
      host_port: 5353,
      container_port: 53,
      protocol: 'udp',
    });
    expect(parsePublish('80')).toMatchObject({ host_port: 0, container_port: 80 });
    expect(parsePublish('9000-9002:7000-7002')).toMatchObject({ host_port: 9000, range: 3 });
    expect(() => parsePublish('1-3:80')).toThrow(/ranges differ/);
    expect(() => parsePublish('80/icmp')).toThrow(/protocol/);
  });

  it('creates networks with unique names, bridges and non-overlapping subnets', () => {
    const a = createNetwork(store, { interfaceName: `skta${tag()}` });
    const b = createNetwork(store, { interfaceName: `sktb${tag()}` });
    expect(a.name).toBe('skiff1');
    expect(b.name).toBe('skiff2');
    expect(a.dns_enabled).toBe(true);
    expect(a.driver).toBe('bridge');
    const sa = parseCidr(a.subnets[0]!.subnet);
    const sb = parseCidr(b.subnets[0]!.subnet);
    expect(subnetsOverlap(sa, sb)).toBe(false);
    for (const h of hostSubnets()) expect(subnetsOverlap(sa, h)).toBe(false);
    expect(a.subnets[0]!.gateway).toBe(a.subnets[0]!.subnet.replace(/0\/24$/, '1'));
    expect(() => createNetwork(store, { name: 'skiff1' })).toThrow(/already used/);
    expect(() => createNetwork(store, { subnet: a.subnets[0]!.subnet })).toThrow(/already used/);
    expect(createNetwork(store, { name: 'skiff1', ignore: true }).id).toBe(a.id);
    expect(inspectNetwork(store, a.id.slice(0, 12)).name).toBe('skiff1');
  });

  it('creates the default network on first use, with DNS off, and lists it', () => {
    const iface = `sktd${tag()}`;
    const def = ensureDefaultNetwork(store, { defaultInterface: iface });
    expect(def).toMatchObject({ name: 'skiff', network_interface: iface, dns_enabled: false });
    expect(ensureDefaultNetwork(store).id).toBe(def.id);
    expect(listNetworks(store).map((n) => n.name)).toContain('skiff');
    expect(inspectNetwork(store, 'bridge').id).toBe(def.id);
    const json = JSON.parse(
      fs.readFileSync(path.join(store.root, 'networks', 'skiff.json'), 'utf8'),
    ) as NetworkConfig;
    expect(Object.keys(json).sort()).toEqual(
      [
        'created',
        'dns_enabled',
        'driver',
        'id',
        'internal',
        'ipam_options',
        'ipv6_enabled',
        'labels',
        'name',
        'network_interface',
        'options',
        'subnets',
      ].sort(),
    );
  });

  it('never hands out one address twice, even to concurrent allocators', async () => {
    const net = createNetwork(store, {
      name: `ipam${tag()}`,
      subnet: '10.250.9.0/29',
      interfaceName: `skti${tag()}`,
    });
    // Leases name their container's directory (a lease whose directory is gone is stale).
    for (const id of ['c0', 'c1', 'c2', 'c3', 'c4', 'c9']) {
      fs.mkdirSync(store.containerDir(id), { recursive: true });
    }
    const got = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        Promise.resolve().then(() => allocateIp(store, net, `c${i}`)),
      ),
    );
    expect(new Set(got).size).toBe(5);
    for (const ip of got)
      expect(subnetContains(parseCidr('10.250.9.0/29'), parseCidr(ip).base)).toBe(true);
    expect(got).not.toContain('10.250.9.1');
    expect(() => allocateIp(store, net, 'c9')).toThrow(/no free IP/);
    releaseIp(store, net, 'c2', got[2]!);
    expect(allocateIp(store, net, 'c9')).toBe(got[2]);
    // A container that vanished without releasing (its store was reset) frees its address.
    fs.rmSync(store.containerDir('c3'), { recursive: true, force: true });
    fs.mkdirSync(store.containerDir('c10'), { recursive: true });
    expect(allocateIp(store, net, 'c10')).toBe(got[3]);
    deleteNetworkConfig(store, net);
    // All of this store's leases went with the network: the first address is free again.
    expect(allocateIp(store, net, 'c11')).toBe('10.250.9.2');
    deleteNetworkConfig(store, net);
  });

  it('writes hosts and resolv.conf for networked containers', () => {
    const hosts = hostsFile({
      hostname: 'abc',
      name: 'web',
      ips: ['10.89.0.2'],
      hostGateway: '10.89.0.1',
      addHosts: ['db:10.1.1.1'],
    });
    expect(hosts).toContain('10.89.0.2\tabc web\n');
    expect(hosts).toContain('10.89.0.1\thost.containers.internal\n');
    expect(hosts).toContain('10.1.1.1\tdb\n');
    const resolv = resolvConf({
      hostResolv: 'nameserver 127.0.0.53\nnameserver 9.9.9.9\nsearch lan\n',
      dropLoopback: true,
      networkDns: ['10.89.1.1'],
      networkSearch: ['dns.podman'],
    });
    expect(resolv).toBe('search dns.podman lan\nnameserver 10.89.1.1\n');
    expect(
      resolvConf({
        hostResolv: 'nameserver 9.9.9.9\n',
        dropLoopback: true,
        dns: ['1.1.1.1'],
        networkDns: ['10.89.1.1'],
      }),
    ).toBe('nameserver 1.1.1.1\n');
  });
});

const canNetwork = isRoot() && !!findBinary('netavark') && !!findBinary('iptables');
const suite = canNetwork ? describe : describe.skip;

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function retry<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(200);
    }
  }
}

function natRules(): string {
  return execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
}

/** The nat rules that mention `text` (a host may hold rules of other networks already). */
function natRulesWith(text: string): string[] {
  return natRules()
    .split('\n')
    .filter((l) => l.includes(text));
}

suite('bridge networks with netavark (needs root, netavark and iptables: skipped otherwise)', () => {
  let store: Store;
  let dir: string;
  let rt: ContainerRuntime;
  const created: string[] = [];
  const bridges: string[] = [];
  const defaultIface = `skt${tag()}0`;

  beforeAll(async () => {
    ({ store, dir } = await storeWithBusybox());
    rt = new ContainerRuntime({ store, network: { defaultInterface: defaultIface } });
    bridges.push(defaultIface);
  }, 120_000);

  afterAll(async () => {
    for (const id of created) await rt.remove(id, { force: true }).catch(() => undefined);
    store?.close();
    for (const b of bridges) {
      if (fs.existsSync(`/sys/class/net/${b}`)) {
        execFileSync('ip', ['link', 'del', b], { stdio: 'ignore' });
      }
      // As root, leases live per bridge for the whole host; these bridges were the test's own.
      fs.rmSync(`/run/skiff/ipam/${b}`, { recursive: true, force: true });
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function create(options: ContainerOptions, name?: string): Promise<Container> {
    const c = await rt.create('busybox', options, name ? { name } : {});
    created.push(c.id);
    return c;
  }

  async function runOutput(options: ContainerOptions): Promise<{ out: string; code: number }> {
    const c = await create(options);
    await rt.start(c.id, { attached: true });
    let out = '';
    const { Writable } = await import('node:stream');
    const sink = new Writable({
      write(chunk, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const code = await rt.attach(c.id, { stdout: sink, stderr: sink });
    return { out, code };
  }

  it('gives a container on the default network an address in its subnet and a route to the gateway', async () => {
    const { out, code } = await runOutput({
      network: 'bridge',
      // busybox ping uses a raw socket: CAP_NET_RAW is not in podman's default set.
      capAdd: ['NET_RAW'],
      command: [
        'sh',
        '-c',
        'ip -o -4 addr show eth0; ping -c1 -W3 host.containers.internal >/dev/null && echo PING-OK; cat /etc/hosts /etc/resolv.conf',
      ],
    });
    const def = inspectNetwork(store, 'skiff');
    expect(def.network_interface).toBe(defaultIface);
    const m = /inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(subnetContains(parseCidr(def.subnets[0]!.subnet), parseCidr(m![1]!).base)).toBe(true);
    expect(out).toContain('PING-OK');
    expect(out).toContain(`${def.subnets[0]!.gateway}\thost.containers.internal`);
    expect(out).toContain(`${m![1]}\t`);
    expect(code).toBe(0);
    // The container has exited and was cleaned up: the bridge went with its last container.
    expect(fs.existsSync(`/sys/class/net/${defaultIface}`)).toBe(false);
    expect(fs.readdirSync(path.join(store.runroot, 'netns'))).toEqual([]);
  });

  it('publishes -p HOSTPORT:80 to busybox httpd, reachable from the host on 127.0.0.1', async () => {
    const port = await freePort();
    const c = await create({
      network: 'bridge',
      publish: [parsePublish(`${port}:80`)],
      command: [
        'sh',
        '-c',
        'mkdir -p /www && echo hello-from-skiff > /www/index.html && exec httpd -f -p 80 -h /www',
      ],
    });
    await rt.start(c.id);
    try {
      const res = await retry(() => httpGet(`http://127.0.0.1:${port}/`));
      expect(res.status).toBe(200);
      expect(res.body).toBe('hello-from-skiff\n');
      expect(rt.inspect(c.id).state.network?.ports).toEqual([
        { host_ip: '', container_port: 80, host_port: port, range: 1, protocol: 'tcp' },
      ]);
      expect(natRules()).toContain(`--dport ${port}`);
    } finally {
      await rt.stop(c.id, { timeout: 1 });
    }
    // Teardown: no DNAT rule, namespace or bridge of ours left.
    expect(natRules()).not.toContain(`--dport ${port}`);
    expect(rt.inspect(c.id).state.network).toBeUndefined();
    expect(fs.readdirSync(path.join(store.runroot, 'netns'))).toEqual([]);
    expect(fs.existsSync(`/sys/class/net/${defaultIface}`)).toBe(false);
    await rt.remove(c.id);
  });

  it('lets two containers on a user network reach each other by name (aardvark-dns)', async () => {
    const iface = `skt${tag()}u`;
    bridges.push(iface);
    const net = createNetwork(store, { name: `skt-user-${tag()}`, interfaceName: iface });
    const rulesBefore = natRulesWith(net.subnets[0]!.subnet);
    const def = inspectNetwork(store, 'skiff');
    expect(
      subnetsOverlap(parseCidr(net.subnets[0]!.subnet), parseCidr(def.subnets[0]!.subnet)),
    ).toBe(false);
    const webName = `web-${tag()}`;
    const web = await create(
      {
        network: net.name,
        command: [
          'sh',
          '-c',
          'mkdir -p /www && echo hi-by-name > /www/index.html && exec httpd -f -p 80 -h /www',
        ],
      },
      webName,
    );
    await rt.start(web.id);
    try {
      const { out, code } = await runOutput({
        network: net.name,
        command: [
          'sh',
          '-c',
          `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://${webName}:80/ && exit 0; sleep 0.5; done; cat /etc/resolv.conf; exit 1`,
        ],
      });
      expect(out).toBe('hi-by-name\n');
      expect(code).toBe(0);
      await expect(removeNetwork(rt, net.name)).rejects.toThrow(/being used/);
    } finally {
      await rt.stop(web.id, { timeout: 1 });
    }
    expect(fs.existsSync(`/sys/class/net/${iface}`)).toBe(false);
    // Teardown removes every rule setup added for the subnet.
    expect(natRulesWith(net.subnets[0]!.subnet)).toEqual(rulesBefore);
    await rt.remove(web.id);
    // The attached client was not --rm: remove it, then the network can go.
    for (const id of created.splice(0)) await rt.remove(id, { force: true }).catch(() => undefined);
    expect(await removeNetwork(rt, net.name)).toBe(net.name);
    expect(() => inspectNetwork(store, net.name)).toThrow(/unable to find network/);
  });

  it('connects a running container to a second network and disconnects it', async () => {
    const iface = `skt${tag()}c`;
    bridges.push(iface);
    const net = createNetwork(store, { name: `skt-conn-${tag()}`, interfaceName: iface });
    const c = await create({ network: 'bridge', command: ['sleep', '60'] });
    await rt.start(c.id);
    try {
      await connectNetwork(rt, c.id, net.name);
      const s = rt.inspect(c.id);
      expect(Object.keys(s.state.network?.networks ?? {}).sort()).toEqual(
        ['skiff', net.name].sort(),
      );
      expect(s.options.network).toBe(`skiff,${net.name}`);
      const ip = s.state.network!.networks[net.name]!.ip;
      const ex = await rt.exec(c.id, { command: ['ip', '-o', '-4', 'addr', 'show', 'eth1'] });
      let out = '';
      ex.child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      expect(await ex.exited).toBe(0);
      expect(out).toContain(ip);
      await disconnectNetwork(rt, c.id, net.name);
      expect(Object.keys(rt.inspect(c.id).state.network?.networks ?? {})).toEqual(['skiff']);
      expect(fs.existsSync(`/sys/class/net/${iface}`)).toBe(false);
    } finally {
      await rt.remove(c.id, { force: true });
    }
    expect(await pruneNetworks(rt)).toContain(net.name);
    expect(fs.readdirSync(path.join(store.runroot, 'netns'))).toEqual([]);
  });

  it('joins another container namespace with --network container:ID and host with --network host', async () => {
    const a = await create({ network: 'bridge', command: ['sleep', '60'] });
    await rt.start(a.id);
    try {
      const ip = Object.values(rt.inspect(a.id).state.network!.networks)[0]!.ip;
      const { out } = await runOutput({
        network: `container:${a.id}`,
        command: ['ip', '-o', '-4', 'addr', 'show', 'eth0'],
      });
      expect(out).toContain(ip);
      const host = await runOutput({ network: 'host', command: ['ls', '/sys/class/net'] });
      expect(host.out).toContain('lo');
      expect(host.out).toContain(defaultIface);
    } finally {
      await rt.remove(a.id, { force: true });
    }
    expect(fs.existsSync(`/sys/class/net/${defaultIface}`)).toBe(false);
  });
});
