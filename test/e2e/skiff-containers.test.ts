// Runs containers with the built skiff CLI for real (runc under conmon) against its own store
// (--root/--runroot in a temp dir): run with args/env/user/workdir, exit codes, detached
// containers with logs/exec/stop/kill/wait, ps and inspect shapes, --rm, --read-only, --memory,
// bind mounts, 20 parallel runs and rm -f. Root only: runc and overlay mounts need it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'apps', 'skiff', 'dist', 'skiff.js');
const ID_RE = /^[0-9a-f]{64}$/;
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let work: string;
let storeRoot: string;
let storeRun: string;
let image: string;
/** Names unique to this run, so that nothing clashes with other work on the machine. */
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(work, 'home'),
    CONTAINERS_REGISTRIES_CONF: join(work, 'registries.conf'),
  };
  delete e.SKIFF_STORAGE_DRIVER;
  delete e.SKIFF_STORAGE_CONF;
  return e;
}

function skiff(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, '--root', storeRoot, '--runroot', storeRun, ...args],
      {
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

async function ok(p: Promise<Run>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Lines of /proc/mounts under this test's store. */
async function storeMounts(): Promise<string[]> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').filter((l) => l.includes(storeRoot) || l.includes(storeRun));
}

/** node processes (skiff) that run against this test's store, other than `except`. */
async function skiffProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue;
      if (argv[1] === CLI && argv.includes(storeRoot)) found.push(`${pid}: ${argv.join(' ')}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  if (!isRoot) return;
  work = join(tmpdir(), `skiff-containers-e2e-${randomBytes(6).toString('hex')}`);
  storeRoot = join(work, 'store');
  storeRun = join(work, 'run');
  await mkdir(join(work, 'home'), { recursive: true });
  await writeFile(join(work, 'registries.conf'), 'unqualified-search-registries = []\n');
  const layout = join(work, 'layout');
  const { cp } = await import('node:fs/promises');
  await cp(inject('baseImageLayout'), layout, { recursive: true });
  await ok(skiff('pull', '-q', `oci:${layout}:latest`));
  image = `busybox-${tag}`;
  await ok(skiff('tag', `localhost${layout}:latest`, image));
});

afterAll(async () => {
  if (!work) return;
  await skiff('rm', '-a', '-f');
  await skiff('system', 'reset', '-f');
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('skiff run (skipped: runc containers need root)', () => {
  it('runs a command with args and prints its output (skiff run --rm IMAGE echo hello)', async () => {
    const r = await skiff('run', '--rm', image, 'echo', 'hello');
    expect(r).toEqual({ code: 0, stdout: 'hello\n', stderr: '' });
  });

  it('passes env, env files, user, workdir, hostname and entrypoint', async () => {
    const envFile = join(work, 'env.list');
    await writeFile(envFile, '# comment\nFROM_FILE=yes\n');
    const out = await ok(
      skiff(
        'run',
        '--rm',
        '-e',
        'GREETING=hi there',
        '--env-file',
        envFile,
        '-u',
        'nobody',
        '-w',
        '/tmp',
        '--hostname',
        'box',
        image,
        'sh',
        '-c',
        'echo "$GREETING|$FROM_FILE|$(id -u)|$(pwd)|$(hostname)"',
      ),
    );
    expect(out).toBe('hi there|yes|65534|/tmp|box\n');
    const ep = await ok(skiff('run', '--rm', '--entrypoint', 'echo', image, 'from', 'entrypoint'));
    expect(ep).toBe('from entrypoint\n');
  });

  it("propagates the container's exit code; 127 for a missing command, 125 for skiff's errors", async () => {
    expect((await skiff('run', '--rm', image, 'sh', '-c', 'exit 3')).code).toBe(3);
    const missing = await skiff('run', '--rm', image, 'no-such-command');
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command/);
    const bad = await skiff('run', '--rm', '--network', 'slirp4netns', image, 'true');
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/not supported yet/);
    expect((await skiff('run', '--rm', 'no-such-image-here', 'true')).code).toBe(125);
    expect(await ok(skiff('ps', '-a', '-q'))).toBe('');
  });

  it('--rm leaves no container and no mount behind', async () => {
    await ok(skiff('run', '--rm', '--name', n('gone'), image, 'true'));
    expect(await ok(skiff('ps', '-a', '--format', '{{.Names}}'))).not.toContain(n('gone'));
    expect(await storeMounts()).toEqual([]);
  });

  it('--read-only makes / read-only and keeps /tmp writable', async () => {
    const r = await skiff(
      'run',
      '--rm',
      '--read-only',
      image,
      'sh',
      '-c',
      'touch /x 2>/dev/null && echo root-writable; touch /tmp/y && echo tmp-writable',
    );
    expect(r.stdout).toBe('tmp-writable\n');
  });

  it("--memory is the container's cgroup memory limit", async () => {
    const out = await ok(
      skiff(
        'run',
        '--rm',
        '--memory',
        '64m',
        image,
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
      ),
    );
    expect(out.trim()).toBe(String(64 * 1024 * 1024));
  });

  it('bind-mounts a host directory read/write and :ro', async () => {
    const dir = join(work, 'bind');
    await mkdir(dir);
    await writeFile(join(dir, 'in.txt'), 'from host\n');
    const rw = await ok(
      skiff(
        'run',
        '--rm',
        '-v',
        `${dir}:/data`,
        image,
        'sh',
        '-c',
        'cat /data/in.txt; echo from container > /data/out.txt',
      ),
    );
    expect(rw).toBe('from host\n');
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('from container\n');
    const ro = await skiff(
      'run',
      '--rm',
      '-v',
      `${dir}:/data:ro`,
      image,
      'sh',
      '-c',
      'echo x > /data/ro.txt',
    );
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const mount = await ok(
      skiff(
        'run',
        '--rm',
        '--mount',
        `type=bind,source=${dir},destination=/m,ro`,
        image,
        'cat',
        '/m/in.txt',
      ),
    );
    expect(mount).toBe('from host\n');
  });
});

describe.skipIf(!isRoot)('skiff run -d and the lifecycle commands (skipped: needs root)', () => {
  it('run -d prints the id and returns; no skiff process stays behind; logs -f follows until stop', async () => {
    const r = await skiff(
      'run',
      '-d',
      '--name',
      n('ticker'),
      '--label',
      'suite=containers',
      image,
      'sh',
      '-c',
      "trap 'echo got TERM; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    );
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(ID_RE);
    expect(await skiffProcesses()).toEqual([]);

    await sleep(700);
    const logs = await ok(skiff('logs', n('ticker')));
    expect(logs).toMatch(/^tick 0\ntick 1\n/);
    expect(await ok(skiff('logs', '--tail', '1', n('ticker')))).toMatch(/^tick \d+\n$/);
    expect(await ok(skiff('logs', '-t', '--tail', '1', n('ticker')))).toMatch(
      /^\d{4}-\d\d-\d\dT\S+ tick \d+\n$/,
    );

    const follow = skiff('logs', '-f', n('ticker'));
    await sleep(500);
    const started = Date.now();
    expect(await ok(skiff('stop', n('ticker')))).toBe(`${n('ticker')}\n`);
    expect(Date.now() - started).toBeLessThan(5000);
    const followed = await follow;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/tick 0\n[\s\S]*got TERM\n$/);
    expect(await ok(skiff('wait', n('ticker')))).toBe('0\n');
    expect(await storeMounts()).toEqual([]);
  });

  it('exec runs in the running container with -e, -u, -w and returns its exit code', async () => {
    await ok(skiff('run', '-d', '--name', n('exec'), image, 'sleep', '600'));
    const out = await ok(
      skiff(
        'exec',
        '-e',
        'X=1',
        '-u',
        'nobody',
        '-w',
        '/tmp',
        n('exec'),
        'sh',
        '-c',
        'echo "$X $(id -u) $(pwd)"',
      ),
    );
    expect(out).toBe('1 65534 /tmp\n');
    expect((await skiff('exec', n('exec'), 'sh', '-c', 'exit 5')).code).toBe(5);
    expect((await skiff('exec', n('exec'), 'no-such-command')).code).toBe(127);
    const top = await ok(skiff('top', n('exec')));
    expect(top.split('\n')[0]).toMatch(/PID/);
    expect(top).toContain('sleep 600');
    expect(await ok(skiff('port', n('exec')))).toBe('');
  });

  it('stop sends SIGTERM, then SIGKILL after -t; kill and wait report the exit code', async () => {
    // sh as PID 1 without a trap ignores SIGTERM: stop must fall back to SIGKILL.
    await ok(
      skiff(
        'run',
        '-d',
        '--name',
        n('stubborn'),
        image,
        'sh',
        '-c',
        'while true; do sleep 0.1; done',
      ),
    );
    const started = Date.now();
    await ok(skiff('stop', '-t', '1', n('stubborn')));
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(8000);
    expect(await ok(skiff('wait', n('stubborn')))).toBe('137\n');

    await ok(skiff('run', '-d', '--name', n('killed'), image, 'sleep', '600'));
    const waiter = skiff('wait', n('killed'));
    await sleep(300);
    expect(await ok(skiff('kill', n('killed')))).toBe(`${n('killed')}\n`);
    expect((await waiter).stdout).toBe('137\n');

    await ok(
      skiff(
        'run',
        '-d',
        '--name',
        n('termed'),
        image,
        'sh',
        '-c',
        "trap 'exit 7' TERM; while true; do sleep 0.1; done",
      ),
    );
    await sleep(300);
    await ok(skiff('kill', '-s', 'TERM', n('termed')));
    expect(await ok(skiff('wait', n('termed')))).toBe('7\n');
  });

  it('pause, unpause, restart and rename', async () => {
    await ok(skiff('run', '-d', '--name', n('pausing'), image, 'sleep', '600'));
    await ok(skiff('pause', n('pausing')));
    expect(
      await ok(skiff('ps', '--filter', `name=${n('pausing')}`, '--format', '{{.Status}}')),
    ).toBe('Paused\n');
    await ok(skiff('unpause', n('pausing')));
    expect(await ok(skiff('inspect', '--format', '{{.State.Status}}', n('pausing')))).toBe(
      'running\n',
    );
    await ok(skiff('restart', '-t', '0', n('pausing')));
    expect(await ok(skiff('inspect', '--format', '{{.State.Status}}', n('pausing')))).toBe(
      'running\n',
    );
    await ok(skiff('rename', n('pausing'), n('renamed')));
    expect(
      await ok(skiff('ps', '--format', '{{.Names}}', '--filter', `name=${n('renamed')}`)),
    ).toBe(`${n('renamed')}\n`);
  });

  it('create then start -a runs the command attached and returns its exit code', async () => {
    const id = (
      await ok(skiff('create', '--name', n('created'), image, 'sh', '-c', 'echo attached; exit 4'))
    ).trim();
    expect(id).toMatch(ID_RE);
    expect(
      await ok(skiff('ps', '-a', '--filter', `id=${id.slice(0, 12)}`, '--format', '{{.Status}}')),
    ).toBe('Created\n');
    const r = await skiff('start', '-a', n('created'));
    expect(r).toMatchObject({ code: 4, stdout: 'attached\n' });
  });

  it("ps -a prints podman's columns and status texts; --format json and Go templates", async () => {
    expect((await skiff('run', '--name', n('exited3'), image, 'sh', '-c', 'exit 3')).code).toBe(3);
    const table = await ok(skiff('ps', '-a'));
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const exited = lines.find((l) => l.endsWith(n('exited3')));
    expect(exited).toMatch(
      new RegExp(
        `^[0-9a-f]{12}  localhost/${image}:latest\\s+sh -c exit 3\\s+.+ ago\\s+Exited \\(3\\) .+ ago\\s+${n('exited3')}$`,
      ),
    );
    const running = lines.find((l) => l.endsWith(n('exec')));
    expect(running).toMatch(/ Up (Less than a second|\d+ seconds?|About a minute) ago /);

    const json = JSON.parse(await ok(skiff('ps', '-a', '--format', 'json'))) as Record<
      string,
      unknown
    >[];
    const entry = json.find((c) => (c.Names as string[])[0] === n('exited3'))!;
    expect(Object.keys(entry)).toEqual(
      expect.arrayContaining([
        'Id',
        'Image',
        'ImageID',
        'Command',
        'Created',
        'CreatedAt',
        'Exited',
        'ExitCode',
        'Names',
        'State',
        'Status',
        'Labels',
        'Pid',
        'Ports',
      ]),
    );
    expect(entry).toMatchObject({
      Command: ['sh', '-c', 'exit 3'],
      Exited: true,
      ExitCode: 3,
      State: 'exited',
    });
    expect(entry.Id).toMatch(ID_RE);

    const labelled = await ok(
      skiff('ps', '-a', '--filter', 'label=suite=containers', '--format', '{{.Names}} {{.State}}'),
    );
    expect(labelled).toBe(`${n('ticker')} exited\n`);
    expect(await ok(skiff('ps', '-a', '--filter', 'exited=3', '-q', '--no-trunc'))).toMatch(
      /^[0-9a-f]{64}\n$/,
    );
    expect(await ok(skiff('container', 'ls', '-l', '--format', '{{.Names}}'))).toBe(
      `${n('exited3')}\n`,
    );
  });

  it("inspect prints podman's JSON shape for a container, images still inspect", async () => {
    const out = await ok(skiff('inspect', n('exited3')));
    expect(out.startsWith('[\n     {\n          "Id": ')).toBe(true);
    const [c] = JSON.parse(out) as {
      State: Record<string, unknown>;
      Config: Record<string, unknown>;
      [key: string]: unknown;
    }[];
    expect(Object.keys(c!)).toEqual(
      expect.arrayContaining([
        'Id',
        'Created',
        'Path',
        'Args',
        'State',
        'Image',
        'ImageName',
        'Name',
        'RestartCount',
        'Mounts',
        'Config',
        'HostConfig',
        'NetworkSettings',
      ]),
    );
    expect(c).toMatchObject({
      Path: 'sh',
      Args: ['-c', 'exit 3'],
      Name: n('exited3'),
      ImageName: `localhost/${image}:latest`,
    });
    expect(Object.keys(c!.State)).toEqual(
      expect.arrayContaining([
        'Status',
        'Running',
        'Paused',
        'Restarting',
        'OOMKilled',
        'Dead',
        'Pid',
        'ExitCode',
        'Error',
        'StartedAt',
        'FinishedAt',
      ]),
    );
    expect(c!.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 3 });
    expect(c!.Config.Cmd).toEqual(['sh', '-c', 'exit 3']);
    expect(
      await ok(skiff('container', 'inspect', '--format', '{{.State.ExitCode}}', n('exited3'))),
    ).toBe('3\n');
    const img = JSON.parse(await ok(skiff('inspect', image))) as Record<string, unknown>[];
    expect(img[0]!.Id).toMatch(ID_RE);
    const missing = await skiff('inspect', 'no-such-object');
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('no such object');
  });

  it('20 containers started in parallel with run -d all run and are listed', async () => {
    const names = Array.from({ length: 20 }, (_, i) => n(`par${i}`));
    const runs = await Promise.all(
      names.map((name) => skiff('run', '-d', '--name', name, image, 'sleep', '120')),
    );
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toMatch(ID_RE);
    }
    const listed = (await ok(skiff('ps', '--format', '{{.Names}} {{.State}}'))).split('\n');
    for (const name of names) expect(listed).toContain(`${name} running`);
    const removed = await ok(skiff('rm', '-f', ...names));
    expect(removed.trim().split('\n').sort()).toEqual([...names].sort());
  });

  it('rm refuses a running container, rm -f removes it; container prune removes the stopped ones', async () => {
    await ok(skiff('run', '-d', '--name', n('victim'), image, 'sleep', '600'));
    const refused = await skiff('rm', n('victim'));
    expect(refused.code).toBe(2);
    expect((await skiff('rm', 'no-such-container')).code).toBe(1);
    expect(await ok(skiff('rm', '-f', n('victim')))).toBe(`${n('victim')}\n`);
    expect(await ok(skiff('ps', '-a', '--format', '{{.Names}}'))).not.toContain(n('victim'));

    const pruned = await ok(skiff('container', 'prune', '-f'));
    expect(pruned).toMatch(/^([0-9a-f]{64}\n)+$/);
    const left = (await ok(skiff('ps', '-a', '--format', '{{.State}}')))
      .split('\n')
      .filter(Boolean);
    expect(left.filter((s) => s !== 'running')).toEqual([]);
    await ok(skiff('rm', '-a', '-f'));
    expect(await ok(skiff('ps', '-a', '-q'))).toBe('');
    expect(await storeMounts()).toEqual([]);
  });
});
