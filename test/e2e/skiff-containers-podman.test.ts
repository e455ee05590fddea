// An image built by the real podman (podman build FROM the base image, then podman save) runs
// under skiff with the same output as under podman. Root only; its own stores for both tools.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'apps', 'skiff', 'dist', 'skiff.js');
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let work: string;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(work, 'home'),
    CONTAINERS_REGISTRIES_CONF: join(work, 'registries.conf'),
    CONTAINERS_CONF: join(work, 'containers.conf'),
  };
  delete e.SKIFF_STORAGE_DRIVER;
  delete e.SKIFF_STORAGE_CONF;
  return e;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
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

const skiff = (...args: string[]) =>
  run(process.execPath, [
    CLI,
    '--root',
    join(work, 'store'),
    '--runroot',
    join(work, 'run'),
    ...args,
  ]);
const podman = (...args: string[]) =>
  run('podman', [
    '--root',
    join(work, 'podman-root'),
    '--runroot',
    join(work, 'podman-run'),
    '--storage-driver',
    'vfs',
    ...args,
  ]);

async function ok(p: Promise<Run>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  if (!isRoot) return;
  // podman refuses a runroot longer than 50 characters: keep the path short.
  work = join(tmpdir(), `skc-${randomBytes(6).toString('hex')}`);
  await mkdir(join(work, 'home'), { recursive: true });
  await writeFile(join(work, 'registries.conf'), 'unqualified-search-registries = []\n');
  await writeFile(
    join(work, 'containers.conf'),
    `[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
`,
  );
  await cp(inject('baseImageLayout'), join(work, 'layout'), { recursive: true });
});

afterAll(async () => {
  if (!work) return;
  await skiff('rm', '-a', '-f');
  await skiff('system', 'reset', '-f');
  await podman('rm', '-a', '-f');
  await podman('system', 'reset', '-f');
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('an image built by podman (skipped: needs root)', () => {
  it('podman build + podman save, then skiff load: skiff run prints what podman run prints', async () => {
    await ok(podman('pull', '-q', `oci:${join(work, 'layout')}:latest`));
    await ok(
      podman('tag', `localhost${join(work, 'layout')}:latest`, 'localhost/interop-base:latest'),
    );
    const ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(
      join(ctx, 'Containerfile'),
      [
        'FROM localhost/interop-base:latest',
        "RUN echo built-by-podman > /built.txt && echo 'app:x:1234:1234::/srv:/bin/sh' >> /etc/passwd",
        'ENV GREETING=hello-from-env',
        'WORKDIR /srv',
        'USER app',
        'CMD ["sh", "-c", "cat /built.txt; echo $GREETING; pwd; id -u"]',
        '',
      ].join('\n'),
    );
    // No CNI plugins here: the build's RUN needs no network.
    await ok(podman('build', '--network', 'none', '-q', '-t', 'localhost/interop:1', ctx));
    const expected = await ok(podman('run', '--rm', '--network', 'none', 'localhost/interop:1'));
    expect(expected).toBe('built-by-podman\nhello-from-env\n/srv\n1234\n');

    const archive = join(work, 'interop.tar');
    await ok(podman('save', '-o', archive, 'localhost/interop:1'));
    await ok(skiff('load', '-q', '-i', archive));
    const r = await skiff('run', '--rm', 'localhost/interop:1');
    expect(r).toEqual({ code: 0, stdout: expected, stderr: '' });
    const args = ['sh', '-c', 'echo $GREETING $(whoami)'];
    expect(await ok(skiff('run', '--rm', '-u', 'root', 'localhost/interop:1', ...args))).toBe(
      await ok(
        podman('run', '--rm', '--network', 'none', '-u', 'root', 'localhost/interop:1', ...args),
      ),
    );
  });
});
