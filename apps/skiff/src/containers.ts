// skiff run/create/start/stop/kill/rm/restart/pause/unpause/wait/rename, container prune and
// container cleanup: podman's container lifecycle over @skiff/runtime. Each command does its
// work and exits; a running container is left to conmon.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import type { Container, ContainerRuntime } from '@skiff/runtime';
import type { Store } from '@skiff/storage';
import { confirm, isCode } from './command-parts.js';
import { type CreateFlags, containerOptions, pullPolicy, randomName } from './container-flags.js';
import { type GlobalOptions, withStore } from './options.js';

/** The argv conmon runs when a container exits: this very CLI's `container cleanup`. */
export function exitCommand(store: Store, globals: GlobalOptions): string[] {
  let script = process.argv[1] ?? '';
  try {
    script = fs.realpathSync(script);
  } catch {
    script = path.resolve(script);
  }
  return [
    process.execPath,
    script,
    '--root',
    store.root,
    '--runroot',
    store.runroot,
    ...(globals.storageDriver ? ['--storage-driver', globals.storageDriver] : []),
    'container',
    'cleanup',
  ];
}

/** Opens the store and a runtime over it for one command. */
export async function withRuntime<T>(
  globals: GlobalOptions,
  body: (rt: ContainerRuntime, store: Store) => Promise<T>,
): Promise<T> {
  const { ContainerRuntime } = await import('@skiff/runtime');
  return withStore(globals, async (store) => {
    const rt = new ContainerRuntime({ store, exitCommand: exitCommand(store, globals) });
    return body(rt, store);
  });
}

/** The runtime's errors for a command that cannot run, as podman's exit codes. */
export function commandExitCode(err: unknown): number | undefined {
  if (isCode(err, 'E_COMMAND_NOT_FOUND')) return 127;
  if (isCode(err, 'E_CANNOT_INVOKE')) return 126;
  return undefined;
}

/** Prints an error the way runCli does and returns podman's exit code for it. */
function report(err: unknown, fallback = 125): number {
  const { hint } = err as SkiffError;
  let message = (err as Error).message ?? String(err);
  // podman's wording for a missing container.
  if (
    isCode(err, 'E_CONTAINER_NOT_FOUND') &&
    /^no container with name or ID "[^"]*"$/.test(message)
  ) {
    message += ' found: no such container';
  }
  process.stderr.write(`Error: ${message}\n${hint ? `Hint: ${hint}\n` : ''}`);
  return commandExitCode(err) ?? fallback;
}

// ------------------------------------------------------------------ create / run

export interface RunFlags extends CreateFlags {
  detach?: boolean;
  pull?: string;
  quiet?: boolean;
}

/** Finds the image, pulling it as --pull says (through pull.ts's copy path). */
async function ensureImage(
  store: Store,
  image: string,
  flags: RunFlags,
  signal: AbortSignal,
): Promise<string> {
  const policy = pullPolicy(flags.pull);
  const { hasTransport } = await import('./pull.js');
  const transport = hasTransport(image) && !image.startsWith('docker://');
  if (policy !== 'always' && !transport) {
    const found = store.findImage(image);
    if (found) return found.id;
    if (policy === 'never') {
      throw new SkiffError('E_IMAGE_NOT_FOUND', `${image}: image not known`);
    }
  }
  return pullImage(store, image, flags, signal);
}

async function pullImage(
  store: Store,
  image: string,
  flags: RunFlags,
  signal: AbortSignal,
): Promise<string> {
  const { copyIntoStore, hasTransport } = await import('./pull.js');
  const { parseImageName } = await import('@skiff/transports');
  const base = { store, openOptions: { signal }, platform: undefined, quiet: flags.quiet, signal };
  if (hasTransport(image) && !image.startsWith('docker://')) {
    return copyIntoStore(parseImageName(image), [], base);
  }
  const { formatReference, isShortName, normalizeReference, parseReference } = await import(
    '@skiff/oci-image'
  );
  const { loadRegistriesConf, resolveShortName } = await import('@skiff/registry');
  const typed = image.replace(/^docker:\/\//, '');
  const candidates = isShortName(typed)
    ? resolveShortName(typed, await loadRegistriesConf()).candidates
    : [formatReference(normalizeReference(parseReference(typed)))];
  if (candidates.length === 0) {
    throw new SkiffError('E_IMAGE_NOT_FOUND', `${image}: image not known`, {
      hint: 'no unqualified-search-registries are configured: use a fully qualified name',
    });
  }
  let last: unknown;
  for (const c of candidates) {
    if (!flags.quiet) process.stderr.write(`Trying to pull ${c}...\n`);
    try {
      return await copyIntoStore(parseImageName(`docker://${c}`), c.includes('@') ? [] : [c], base);
    } catch (err) {
      if (signal.aborted) throw err;
      last = err;
    }
  }
  throw last;
}

/** Creates the container record; podman-like random name unless --name. */
async function createContainer(
  rt: ContainerRuntime,
  store: Store,
  image: string,
  command: string[],
  flags: RunFlags,
  signal: AbortSignal,
): Promise<Container> {
  const options = containerOptions(flags, command, {
    env: process.env,
    readFile: (f) => fs.readFileSync(f, 'utf8'),
  });
  if (
    ((flags.publish?.length ?? 0) > 0 || flags.publishAll) &&
    !options.publish &&
    !options.publishAll
  ) {
    process.stderr.write(
      'Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use\n',
    );
  }
  if (flags.detachKeys !== undefined) {
    const { parseDetachKeys } = await import('@skiff/runtime');
    parseDetachKeys(flags.detachKeys);
  }
  const imageId = await ensureImage(store, image, flags, signal);
  const img = store.getImage(imageId);
  const typed = img?.names.find((n) => n === image || n.endsWith(`/${image}`));
  const imageName = typed ?? img?.names[0] ?? imageId;
  if (flags.name !== undefined) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(flags.name)) {
      throw new UsageError(`container name "${flags.name}" is invalid`, {
        hint: 'names match [a-zA-Z0-9][a-zA-Z0-9_.-]*',
      });
    }
    return rt.create(imageId, options, { name: flags.name, imageName });
  }
  for (let i = 0; ; i++) {
    try {
      return await rt.create(imageId, options, { name: randomName(), imageName });
    } catch (err) {
      if (i >= 10 || !/name|exists|in use/i.test((err as Error).message)) throw err;
    }
  }
}

export async function createCommand(
  image: string,
  command: string[],
  flags: RunFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  await withRuntime(globals, async (rt, store) => {
    const c = await createContainer(rt, store, image, command, flags, signal);
    process.stdout.write(`${c.id}\n`);
  });
}

/** start(); a tty container that will be attached gets this terminal's size before it runs. */
async function startAttached(rt: ContainerRuntime, c: Container, attached: boolean): Promise<void> {
  if (!attached || !c.options.tty) {
    await rt.start(c.id, { attached });
    return;
  }
  const { resizeWhileStarting, terminalSize } = await import('./attach.js');
  const stop = resizeWhileStarting(c.paths.bundle, terminalSize());
  try {
    await rt.start(c.id, { attached });
  } finally {
    stop();
  }
}

export async function runCommand(
  image: string,
  command: string[],
  flags: RunFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<number> {
  return withRuntime(globals, async (rt, store) => {
    const c = await createContainer(rt, store, image, command, flags, signal);
    try {
      await startAttached(rt, c, !flags.detach);
    } catch (err) {
      if (c.options.autoRemove) await rt.remove(c.id, { force: true }).catch(() => undefined);
      return report(err);
    }
    if (flags.detach) {
      process.stdout.write(`${c.id}\n`);
      return 0;
    }
    const { attachContainer } = await import('./attach.js');
    return attachContainer(
      rt,
      c.id,
      {
        tty: Boolean(flags.tty),
        stdin: Boolean(flags.interactive),
        detachKeys: flags.detachKeys,
        sigProxy: true,
      },
      signal,
    );
  });
}

export interface AttachFlags {
  detachKeys?: string;
  latest?: boolean;
  noStdin?: boolean;
  stdin?: boolean;
  sigProxy?: boolean;
}

/** `skiff attach`: to a running container's output (and stdin when it was created with -i). */
export async function attachCommand(
  ref: string | undefined,
  flags: AttachFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<number> {
  return withRuntime(globals, async (rt) => {
    let target = ref;
    if (flags.latest) {
      if (ref !== undefined)
        throw new UsageError('--latest and containers cannot be used together');
      target = rt.list()[0]?.id;
      if (target === undefined)
        throw new SkiffError('E_CONTAINER_NOT_FOUND', 'no containers to attach to');
    }
    if (target === undefined)
      throw new UsageError('attach requires the name or id of one running container');
    const c = rt.inspect(target);
    if (c.state.status !== 'running') {
      throw new SkiffError('E_CONTAINER_STATE', 'you can only attach to running containers');
    }
    const noStdin = Boolean(flags.noStdin) || flags.stdin === false;
    const { attachContainer } = await import('./attach.js');
    return attachContainer(
      rt,
      c.id,
      {
        tty: Boolean(c.options.tty),
        stdin: Boolean(c.options.interactive) && !noStdin,
        detachKeys: flags.detachKeys,
        sigProxy: flags.sigProxy !== false,
      },
      signal,
    );
  });
}

// ------------------------------------------------------------------ lifecycle of existing containers

/** The refs a command works on: the arguments, or all (-a) / the latest (-l) container. */
function targets(
  rt: ContainerRuntime,
  refs: string[],
  flags: { all?: boolean; latest?: boolean },
  filter: (c: Container) => boolean = () => true,
): string[] {
  if (flags.all || flags.latest) {
    if (refs.length > 0) {
      throw new UsageError(
        `--${flags.all ? 'all' : 'latest'} and containers cannot be used together`,
      );
    }
    const list = rt.list().filter(filter);
    return (flags.latest ? list.slice(0, 1) : list).map((c) => c.id);
  }
  if (refs.length === 0) throw new UsageError('you must provide at least one container name or id');
  return refs;
}

/** Runs `op` for each ref, printing what podman prints; errors are printed and counted. */
async function eachContainer(
  refs: string[],
  op: (ref: string) => Promise<string | undefined>,
  errorCode: (err: unknown) => number = () => 125,
): Promise<number> {
  let code = 0;
  for (const ref of refs) {
    try {
      const out = await op(ref);
      if (out !== undefined) process.stdout.write(`${out}\n`);
    } catch (err) {
      code = report(err, errorCode(err));
    }
  }
  return code;
}

const isRunning = (c: Container) => c.state.status === 'running' || c.state.status === 'paused';

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1)
    throw new UsageError(`invalid argument "${value}" for "${flag}" flag`);
  return Math.max(n, 0);
}

export interface StartFlags {
  attach?: boolean;
  interactive?: boolean;
  all?: boolean;
  latest?: boolean;
  detachKeys?: string;
  sigProxy?: boolean;
}

export async function startCommand(
  refs: string[],
  flags: StartFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<number> {
  return withRuntime(globals, async (rt) => {
    if (flags.attach || flags.interactive) {
      // podman: -i alone attaches too (stdin, stdout and stderr).
      if (refs.length !== 1)
        throw new UsageError('you cannot start and attach multiple containers at once');
      const c = rt.inspect(refs[0]!);
      try {
        await startAttached(rt, c, true);
      } catch (err) {
        return report(err);
      }
      const { attachContainer } = await import('./attach.js');
      return attachContainer(
        rt,
        c.id,
        {
          tty: Boolean(c.options.tty),
          stdin: Boolean(flags.interactive && c.options.interactive),
          detachKeys: flags.detachKeys,
          sigProxy: flags.sigProxy !== false,
        },
        signal,
      );
    }
    const list = targets(rt, refs, flags, (c) => !isRunning(c));
    return eachContainer(list, async (ref) => {
      const c = rt.inspect(ref);
      if (!isRunning(c)) await rt.start(c.id);
      return ref;
    });
  });
}

export async function stopCommand(
  refs: string[],
  flags: { time?: string; all?: boolean; latest?: boolean; ignore?: boolean },
  globals: GlobalOptions,
): Promise<number> {
  const timeout = seconds('--time', flags.time);
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags, isRunning);
    return eachContainer(list, async (ref) => {
      try {
        await rt.stop(ref, timeout === undefined ? {} : { timeout });
      } catch (err) {
        if (flags.ignore && isCode(err, 'E_CONTAINER_NOT_FOUND')) return undefined;
        throw err;
      }
      return ref;
    });
  });
}

export async function killCommand(
  refs: string[],
  flags: { signal?: string; all?: boolean; latest?: boolean },
  globals: GlobalOptions,
): Promise<number> {
  const sig = flags.signal ?? 'SIGKILL';
  const { parseSignal } = await import('@skiff/runtime');
  parseSignal(sig);
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags, isRunning);
    return eachContainer(list, async (ref) => {
      await rt.kill(ref, /^\d+$/.test(sig) ? Number(sig) : sig);
      return ref;
    });
  });
}

export async function rmCommand(
  refs: string[],
  flags: { force?: boolean; all?: boolean; latest?: boolean; volumes?: boolean; ignore?: boolean },
  globals: GlobalOptions,
): Promise<number> {
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags);
    // podman: 1 when a container does not exist, 2 when one is running (without -f).
    return eachContainer(
      list,
      async (ref) => {
        try {
          await rt.remove(ref, { force: Boolean(flags.force), volumes: Boolean(flags.volumes) });
        } catch (err) {
          if (flags.ignore && isCode(err, 'E_CONTAINER_NOT_FOUND')) return undefined;
          throw err;
        }
        return ref;
      },
      (err) =>
        isCode(err, 'E_CONTAINER_NOT_FOUND')
          ? 1
          : isCode(err, 'E_CONTAINER_RUNNING', 'E_CONTAINER_STATE')
            ? 2
            : 125,
    );
  });
}

export async function restartCommand(
  refs: string[],
  flags: { time?: string; all?: boolean; latest?: boolean; running?: boolean },
  globals: GlobalOptions,
): Promise<number> {
  const timeout = seconds('--time', flags.time);
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags, flags.running ? isRunning : () => true);
    return eachContainer(list, async (ref) => {
      await rt.restart(ref, timeout === undefined ? {} : { timeout });
      return ref;
    });
  });
}

export async function pauseCommand(
  refs: string[],
  flags: { all?: boolean; latest?: boolean },
  globals: GlobalOptions,
  pause: boolean,
): Promise<number> {
  return withRuntime(globals, async (rt) => {
    const want = pause ? 'running' : 'paused';
    const list = targets(rt, refs, flags, (c) => c.state.status === want);
    return eachContainer(list, async (ref) => {
      if (pause) await rt.pause(ref);
      else await rt.unpause(ref);
      return ref;
    });
  });
}

export async function waitCommand(
  refs: string[],
  flags: { latest?: boolean; condition?: string[] },
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<number> {
  for (const c of flags.condition ?? []) {
    if (c !== 'stopped' && c !== 'exited') {
      throw new UsageError(`--condition ${c} is not supported yet: use stopped or exited`);
    }
  }
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags);
    return eachContainer(list, async (ref) => String(await rt.wait(ref, { signal })));
  });
}

export async function renameCommand(
  ref: string,
  name: string,
  globals: GlobalOptions,
): Promise<void> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new UsageError(`container name "${name}" is invalid`);
  }
  await withRuntime(globals, async (rt, store) => {
    const c = rt.inspect(ref);
    store.renameContainer(c.id, name);
  });
}

export async function cleanupCommand(
  refs: string[],
  flags: { all?: boolean; latest?: boolean; rm?: boolean },
  globals: GlobalOptions,
): Promise<number> {
  return withRuntime(globals, async (rt) => {
    const list = targets(rt, refs, flags, (c) => !isRunning(c));
    return eachContainer(list, async (ref) => {
      let id = ref;
      try {
        id = rt.inspect(ref).id;
      } catch (err) {
        // conmon's exit command may race with an `rm`: nothing is left to clean.
        if (isCode(err, 'E_CONTAINER_NOT_FOUND')) return undefined;
        throw err;
      }
      await rt.cleanup(id);
      if (flags.rm) await rt.remove(id, { force: false }).catch(() => undefined);
      return id;
    });
  });
}

export async function pruneCommand(
  flags: { force?: boolean; filter?: string[] },
  globals: GlobalOptions,
): Promise<number> {
  if (flags.filter?.length) throw new UsageError('container prune --filter is not supported yet');
  if (
    !flags.force &&
    !(await confirm(
      'WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ',
    ))
  ) {
    return 0;
  }
  return withRuntime(globals, async (rt) => {
    const list = rt.list().filter((c) => !isRunning(c));
    return eachContainer(
      list.map((c) => c.id),
      async (id) => {
        await rt.remove(id);
        return id;
      },
    );
  });
}
