// Runs the built CLIs (and skopeo and podman beside them) the way a user would, capturing exit
// code, stdout and stderr, in environments that keep a test away from the user's configuration.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

export const ROOT = join(import.meta.dirname, '..', '..');
export const SKIFF_CLI = join(ROOT, 'apps', 'skiff', 'dist', 'skiff.js');
export const SKIFF_IMAGE_CLI = join(ROOT, 'apps', 'skiff-image', 'dist', 'skiff-image.js');

/** How a command exited and what it printed. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** What the child reads on stdin; without it, stdin is empty. */
  input?: Buffer | string;
}

/**
 * Starts a command; `done` resolves when it exits, whatever the exit code (128+N after signal
 * N, as a shell reports it), and rejects only when it cannot be started.
 */
export function startCommand(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: 'pipe' });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 + constants.signals[signal] : -1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
  // A child that exits without reading its input must not fail the run.
  child.stdin.on('error', () => {});
  child.stdin.end(opts.input);
  return { child, done };
}

/** Runs a command to its end (see startCommand). */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return startCommand(cmd, args, opts).done;
}

/** The stdout of a command that must exit 0 with nothing on stderr. */
export async function ok(p: Promise<Run>): Promise<string> {
  const r = await p;
  expect(r.stderr, 'stderr of a command that should succeed').toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** The stdout of a command that must exit 0; otherwise throws with its exit code and stderr. */
export async function stdoutOf(p: Promise<Run>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** skopeo 1.9 predates LayersData; compare everything else byte for byte. */
export function withoutLayersData(json: string): string {
  return json.replace(/ {4}"LayersData": \[\n[\s\S]*?\n {4}\],\n/, '');
}

/** This process's environment with `set` applied and the `unset` variables removed. */
function envWith(set: Record<string, string>, unset: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...set };
  for (const name of unset) delete env[name];
  return env;
}

/**
 * For registry clients (skiff-image, skopeo): every auth file and config lookup stays inside
 * `home`.
 */
export function registryClientEnv(home: string): NodeJS.ProcessEnv {
  return envWith({ HOME: home, XDG_CONFIG_HOME: join(home, '.config') }, [
    'REGISTRY_AUTH_FILE',
    'XDG_RUNTIME_DIR',
    'DOCKER_CONFIG',
  ]);
}

/**
 * For skiff and podman sharing a test directory: HOME under `work`, `work`/registries.conf,
 * the given containers.conf, and no storage or auth settings from outside.
 */
export function containersEnv(work: string, containersConf: string): NodeJS.ProcessEnv {
  return envWith(
    {
      HOME: join(work, 'home'),
      XDG_CONFIG_HOME: join(work, 'home', '.config'),
      CONTAINERS_REGISTRIES_CONF: join(work, 'registries.conf'),
      CONTAINERS_CONF: containersConf,
    },
    ['SKIFF_STORAGE_DRIVER', 'SKIFF_STORAGE_CONF', 'REGISTRY_AUTH_FILE'],
  );
}

/** Writes a containers.conf podman can run with in a test container (runc, cgroupfs, file events). */
export async function writeTestContainersConf(file: string): Promise<void> {
  await writeFile(
    file,
    `[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
`,
  );
}

/** podman's flags for a store of its own (vfs, as in a test container without overlay). */
export function podmanStoreFlags(root: string, runroot: string): string[] {
  return ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'];
}

/** A skiff store of a test file's own, holding the busybox base image under a local name. */
export interface SkiffTestStore {
  work: string;
  image: string;
  env: NodeJS.ProcessEnv;
  /** The CLI's argv (after node) for these --root/--runroot. */
  args(args: string[]): string[];
  skiff(args: string[], input?: string): Promise<Run>;
  /** Removes every container, resets the store and deletes the test directory. */
  remove(): Promise<void>;
}

export async function createSkiffTestStore(
  prefix: string,
  baseLayout: string,
  image: string,
): Promise<SkiffTestStore> {
  const work = join(tmpdir(), `${prefix}-${randomBytes(6).toString('hex')}`);
  await mkdir(join(work, 'home'), { recursive: true });
  await writeFile(join(work, 'registries.conf'), 'unqualified-search-registries = []\n');
  await writeTestContainersConf(join(work, 'containers.conf'));
  const env = containersEnv(work, join(work, 'containers.conf'));
  const args = (a: string[]) => [
    SKIFF_CLI,
    '--root',
    join(work, 'store'),
    '--runroot',
    join(work, 'run'),
    ...a,
  ];
  const skiff = (a: string[], input?: string) =>
    runCommand(process.execPath, args(a), { env, ...(input !== undefined ? { input } : {}) });
  const layout = join(work, 'layout');
  await cp(baseLayout, layout, { recursive: true });
  await stdoutOf(skiff(['pull', '-q', `oci:${layout}:latest`]));
  await stdoutOf(skiff(['tag', `localhost${layout}:latest`, image]));
  return {
    work,
    image,
    env,
    args,
    skiff,
    async remove() {
      await skiff(['rm', '-a', '-f']);
      await skiff(['system', 'reset', '-f']);
      await rm(work, { recursive: true, force: true });
    },
  };
}
