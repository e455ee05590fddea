import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ImageConfig, SkiffError } from '@skiff/oci-image';
import type { ContainerRecord, Store } from '@skiff/storage';
import { findBinary, type SeqpacketSocket } from '@skiff/sys';
import { connectAttachSocket, runAttachSession } from './attach-socket.js';
import { RuntimeErrorCode } from './errors.js';
import { startConmonExec } from './exec-session.js';
import { hostsFile, resolvConf } from './files.js';
import { detectHost, loadSeccompProfile } from './host.js';
import { type LogEntry, readLog } from './logs.js';
import type { NetworkSettings } from './network.js';
import {
  type ContainerNetworkState,
  networkHostEntries,
  setupContainerNetwork,
  teardownContainerNetwork,
} from './network-setup.js';
import { findOciRuntime, ociError, run, runtimeLogError, spawnConmon } from './oci.js';
import { parseRestart, parseSignal } from './options.js';
import { generateSpec, mergeEnv } from './spec.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, type TerminalSize, writeResize } from './tty.js';
import type { ContainerOptions, HostInfo, RuntimeProcess, RuntimeSpec } from './types.js';
import { readRootfsFile, resolveUser } from './user.js';
import { removeAnonymousVolumes, resolveVolumes, volumeBinds } from './volume.js';

export type { LogEntry } from './logs.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'stopped' | 'exited';

export interface ContainerState {
  status: ContainerStatus;
  pid?: number;
  conmonPid?: number;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** Path of the OCI runtime the container was started with. */
  ociRuntime?: string;
  restartCount: number;
  /** Stopped by `stop`: restart policies leave it alone. */
  stoppedByUser?: boolean;
  error?: string;
  /** The rootfs is mounted for this run (cleanup unmounts it once). */
  mounted?: boolean;
  /** A process following the container's output (attached run): cleanup leaves --rm to it. */
  attachedBy?: { pid: number; startTime: string };
  /** Bridge networks set up for this run (netavark); cleared by teardown. */
  network?: ContainerNetworkState;
}

export interface Container {
  id: string;
  name: string;
  imageId: string;
  imageName: string;
  created: Date;
  options: ContainerOptions;
  /** The process args of the last start (empty before). */
  args: string[];
  state: ContainerState;
  paths: { bundle: string; configPath: string; runDir: string; logPath: string; exitFile: string };
}

export type RuntimeEvent = {
  type:
    | 'create'
    | 'init'
    | 'start'
    | 'died'
    | 'stop'
    | 'kill'
    | 'pause'
    | 'unpause'
    | 'cleanup'
    | 'remove'
    | 'restart'
    | 'exec';
  id: string;
  name: string;
  time: Date;
  exitCode?: number;
  signal?: number;
};

export interface RuntimeConfig {
  store: Store;
  /** runc (default), crun, or a path; a container's own options.runtime wins. */
  ociRuntime?: string;
  conmonPath?: string;
  /** The argv conmon runs when a container exits; the container id is appended. */
  exitCommand?: string[];
  exitCommandDelay?: number;
  host?: HostInfo;
  onEvent?: (e: RuntimeEvent) => void;
  /** The default network's name and bridge (default `skiff`, `skiff0`). */
  network?: NetworkSettings;
}

export interface StopOptions {
  /** Seconds before SIGKILL (default options.stopTimeout ?? 10). */
  timeout?: number;
}

export interface RemoveOptions {
  force?: boolean;
  /** `rm -v`: also the container's anonymous volumes. */
  volumes?: boolean;
}

export interface LogsOptions {
  follow?: boolean;
  tail?: number;
  since?: Date;
  until?: Date;
  signal?: AbortSignal;
}

export interface AttachOptions {
  /** Forwarded to a container started with `interactive` (the CLI puts a tty in raw mode). */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** podman syntax (default "ctrl-p,ctrl-q"; "" disables); looked for in stdin. */
  detachKeys?: string;
  /** Initial pty size of a tty container (then resize() on SIGWINCH). */
  size?: TerminalSize;
  signal?: AbortSignal;
}

export interface ExecOptions {
  command: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  /** A pty through conmon (exec -t); stdin/stdout/stderr below carry the I/O. */
  tty?: boolean;
  /** Keep stdin open and forward `stdin` (exec -i). */
  interactive?: boolean;
  /** With tty/interactive: the streams conmon's attach socket is copied to and from. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  detachKeys?: string;
  /** Initial pty size with tty. */
  size?: TerminalSize;
  detach?: boolean;
  privileged?: boolean;
  /** fds 0-2 of runc exec (default ['ignore', 'pipe', 'pipe']). */
  stdio?: StdioOptions;
}

export interface ExecProcess {
  /** runc exec (or, with tty/interactive, the conmon that supervises the session). */
  child: ChildProcess;
  /** With tty: resizes the session's pty. */
  resize?: (size: TerminalSize) => void;
  /** The exit code (126/127 when the command cannot be run / is missing). */
  exited: Promise<number>;
}

export interface TopResult {
  titles: string[];
  processes: string[][];
}

interface StoredConfig {
  options: ContainerOptions;
  imageName: string;
  args?: string[];
  stopSignal?: string;
}

const RUNNING = new Set<ContainerStatus>(['running', 'paused']);

/** /proc/PID/stat start time (field 22): tells a live process from a reused pid. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Containers over a Store: each call does its work and returns; a running container is
 * supervised by conmon alone. State lives in the container record (store.updateContainer).
 */
export class ContainerRuntime {
  readonly store: Store;
  private readonly cfg: RuntimeConfig;
  private hostInfo: HostInfo | undefined;
  /** Attach sockets connected by start({attached}) before the process ran, for attach(). */
  private readonly earlyAttach = new Map<string, SeqpacketSocket>();

  constructor(cfg: RuntimeConfig) {
    this.store = cfg.store;
    this.cfg = cfg;
    this.hostInfo = cfg.host;
  }

  private get host(): HostInfo {
    this.hostInfo ??= detectHost();
    return this.hostInfo;
  }

  private get runcRoot(): string {
    return path.join(this.store.runroot, 'runc');
  }

  private emit(type: RuntimeEvent['type'], rec: { id: string; name: string }, extra = {}): void {
    this.cfg.onEvent?.({ type, id: rec.id, name: rec.name, time: new Date(), ...extra });
  }

  private paths(id: string): Container['paths'] {
    const bundle = this.store.containerDir(id);
    const runDir = this.store.containerRunDir(id);
    return {
      bundle,
      configPath: path.join(bundle, 'config.json'),
      runDir,
      logPath: path.join(bundle, 'ctr.log'),
      exitFile: path.join(runDir, 'exits', id),
    };
  }

  private toContainer(rec: ContainerRecord): Container {
    const c = rec.config as unknown as StoredConfig;
    return {
      id: rec.id,
      name: rec.name,
      imageId: rec.imageId,
      imageName: c.imageName ?? rec.imageId,
      created: rec.created,
      options: c.options ?? {},
      args: c.args ?? [],
      state: { restartCount: 0, status: 'created', ...(rec.state as Partial<ContainerState>) },
      paths: this.paths(rec.id),
    };
  }

  private runtimePath(options: ContainerOptions, state?: ContainerState): string {
    return state?.ociRuntime ?? findOciRuntime(options.runtime ?? this.cfg.ociRuntime ?? 'runc');
  }

  private async oci(rt: string, args: string[]) {
    return run(rt, [`--root=${this.runcRoot}`, ...args]);
  }

  // ------------------------------------------------------------------ create / start

  async create(
    image: string,
    options: ContainerOptions,
    opts: { name?: string; imageName?: string } = {},
  ): Promise<Container> {
    const img = this.store.lookupImage(image);
    if (options.restart) parseRestart(options.restart);
    options = resolveVolumes(this.store, options, this.parsedImageConfig(img.id));
    const config: StoredConfig = {
      options,
      imageName: opts.imageName ?? img.names[0] ?? img.id,
    };
    const rec = await this.store
      .createContainer(img.id, {
        id: randomBytes(32).toString('hex'),
        ...(opts.name ? { name: opts.name } : {}),
        config: config as unknown as Record<string, unknown>,
        state: { status: 'created', restartCount: 0 } satisfies ContainerState,
      })
      .catch(async (err: unknown) => {
        // e.g. a taken name: the anonymous volumes made for it go too.
        await removeAnonymousVolumes(this.store, options.mounts ?? []);
        throw err;
      });
    fs.mkdirSync(path.join(this.store.containerRunDir(rec.id), 'exits'), { recursive: true });
    this.emit('create', rec);
    return this.toContainer(rec);
  }

  private parsedImageConfig(imageId: string): ImageConfig {
    return JSON.parse(Buffer.from(this.store.imageConfig(imageId)).toString('utf8')) as ImageConfig;
  }

  /** Claims and undoes the container's network setup (once, across processes). */
  private async teardownNetwork(id: string): Promise<void> {
    let net: ContainerNetworkState | undefined;
    this.store.updateContainer(id, (r) => {
      net = (r.state as unknown as ContainerState).network;
      return net ? { state: { ...r.state, network: undefined } } : undefined;
    });
    await teardownContainerNetwork(this.store, id, net);
  }

  /** Writes config.json and the run files; returns the spec. The rootfs must be mounted. */
  private prepareBundle(
    c: Container,
    rootfs: string,
    net: { netnsPath?: string; state?: ContainerNetworkState } = {},
  ): RuntimeSpec {
    const o = c.options;
    const imageConfig = JSON.parse(
      Buffer.from(this.store.imageConfig(c.imageId)).toString('utf8'),
    ) as ImageConfig;
    const runDir = c.paths.runDir;
    const passwd = readRootfsFile(rootfs, 'etc/passwd');
    const group = readRootfsFile(rootfs, 'etc/group');
    const spec = generateSpec(
      { config: imageConfig, ...(passwd ? { passwd } : {}), ...(group ? { group } : {}) },
      o,
      this.host,
      {
        id: c.id,
        name: c.name,
        rootfs,
        runDir,
        seccompProfile: o.privileged ? null : loadSeccompProfile(o.seccomp),
        ...(net.netnsPath ? { netnsPath: net.netnsPath } : {}),
      },
    );
    fs.mkdirSync(path.join(runDir, 'exits'), { recursive: true });
    const hostName = spec.hostname ?? this.host.hostname;
    const readHost = (f: string) => {
      try {
        return fs.readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    };
    fs.writeFileSync(
      path.join(runDir, 'hosts'),
      hostsFile({
        hostname: hostName,
        name: c.name,
        addHosts: o.addHosts ?? [],
        ...(o.network === 'host' ? { hostHosts: readHost('/etc/hosts') } : {}),
        ...networkHostEntries(net.state),
      }),
    );
    fs.writeFileSync(
      path.join(runDir, 'resolv.conf'),
      resolvConf({
        hostResolv: readHost('/etc/resolv.conf'),
        dns: o.dns ?? [],
        dnsSearch: o.dnsSearch ?? [],
        dnsOptions: o.dnsOptions ?? [],
        dropLoopback: o.network !== 'host',
        networkDns: net.state?.dnsServers ?? [],
        networkSearch: net.state?.dnsSearch ?? [],
      }),
    );
    fs.writeFileSync(path.join(runDir, 'hostname'), `${hostName}\n`);
    fs.mkdirSync(c.paths.bundle, { recursive: true });
    const tmp = `${c.paths.configPath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(spec, null, 2));
    fs.renameSync(tmp, c.paths.configPath);
    return spec;
  }

  /**
   * Starts a created or exited container under conmon. With `attached`, the caller is going to
   * follow it (attach()): conmon's cleanup then leaves `--rm` to the caller.
   */
  async start(ref: string, opts: { attached?: boolean } = {}): Promise<Container> {
    let c = this.inspect(ref);
    if (RUNNING.has(c.state.status)) {
      throw new SkiffError(
        RuntimeErrorCode.ContainerState,
        `container ${c.name} is already ${c.state.status}`,
      );
    }
    if (c.state.status === 'stopped') {
      await this.cleanup(c.id, { noRestart: true });
      c = this.inspect(c.id);
    }
    const rt = this.runtimePath(c.options);
    const conmon = this.cfg.conmonPath ?? findBinary('conmon');
    if (!conmon) {
      throw new SkiffError(RuntimeErrorCode.RuntimeNotFound, 'conmon not found', {
        hint: 'install the conmon package',
      });
    }
    // A stale runtime state of a previous run (after a crash) would block the create.
    await this.oci(rt, ['delete', '--force', c.id]);
    const p = c.paths;
    for (const f of [p.exitFile, path.join(p.bundle, 'exit'), path.join(p.runDir, 'oci-log')]) {
      fs.rmSync(f, { force: true });
    }
    await this.teardownNetwork(c.id).catch(() => undefined);
    const rootfs = await this.store.mountContainer(c.id);
    let spec: RuntimeSpec;
    let net: Awaited<ReturnType<typeof setupContainerNetwork>> = {};
    try {
      const options = await volumeBinds(this.store, c.options, rootfs);
      net = await setupContainerNetwork(
        this.store,
        c,
        this.parsedImageConfig(c.imageId),
        this.cfg.network ?? {},
      );
      spec = this.prepareBundle({ ...c, options }, rootfs, net);
    } catch (err) {
      await teardownContainerNetwork(this.store, c.id, net.state).catch(() => undefined);
      await this.store.unmountContainer(c.id);
      throw err;
    }
    const attachedBy = opts.attached ? this.selfMark() : undefined;
    this.store.updateContainer(c.id, (r) => ({
      config: { ...r.config, args: spec.process.args },
      state: {
        ...r.state,
        status: 'created',
        mounted: true,
        ociRuntime: rt,
        network: net.state,
        stoppedByUser: false,
        attachedBy,
        exitCode: undefined,
        error: undefined,
      },
    }));
    this.emit('init', c);
    const ociLog = path.join(p.runDir, 'oci-log');
    const args = [
      '--api-version',
      '1',
      '-c',
      c.id,
      '-u',
      c.id,
      '-r',
      rt,
      '-b',
      p.bundle,
      '-p',
      path.join(p.runDir, 'pidfile'),
      '-n',
      c.name,
      '--exit-dir',
      path.dirname(p.exitFile),
      '--persist-dir',
      p.bundle,
      '-P',
      path.join(p.runDir, 'conmon.pid'),
      '-l',
      `k8s-file:${p.logPath}`,
      '--full-attach',
      '--socket-dir-path',
      p.runDir,
      '--runtime-arg',
      `--root=${this.runcRoot}`,
      '--runtime-arg',
      '--log-format=json',
      '--runtime-arg',
      '--log',
      `--runtime-arg=${ociLog}`,
    ];
    // With a tty conmon makes the console socket, gets the pty master from runc and sends
    // stdin there (never `-i` then: a detaching client would close the pty).
    if (c.options.tty) args.push('-t');
    else if (c.options.interactive) args.push('-i');
    const exitCommand = this.cfg.exitCommand;
    if (exitCommand && exitCommand.length > 0) {
      args.push('--exit-command', exitCommand[0]!);
      for (const a of [...exitCommand.slice(1), c.id]) args.push('--exit-command-arg', a);
      if (this.cfg.exitCommandDelay !== undefined) {
        args.push('--exit-delay', String(this.cfg.exitCommandDelay));
      }
    }
    let pid: number;
    let startedAt = '';
    try {
      const msg = await spawnConmon(conmon, args, process.env);
      if (msg.data <= 0) {
        throw ociError(
          path.basename(rt),
          runtimeLogError(ociLog) ?? msg.message ?? 'container create failed',
        );
      }
      pid = msg.data;
      if (opts.attached && (c.options.tty || c.options.interactive)) {
        // Connected before the process runs, so the first output and prompt are not lost.
        this.earlyAttach.get(c.id)?.close();
        this.earlyAttach.set(c.id, await connectAttachSocket(p.bundle));
      }
      startedAt = new Date().toISOString();
      const started = await this.oci(rt, ['start', c.id]);
      if (started.code !== 0) {
        throw ociError(path.basename(rt), runtimeLogError(ociLog) ?? started.stderr);
      }
    } catch (err) {
      this.earlyAttach.get(c.id)?.close();
      this.earlyAttach.delete(c.id);
      await this.oci(rt, ['delete', '--force', c.id]);
      this.store.updateContainer(c.id, (r) => ({
        state: {
          ...r.state,
          status: 'exited',
          mounted: false,
          error: (err as Error).message,
          exitCode: 0,
        },
      }));
      await this.teardownNetwork(c.id).catch(() => undefined);
      await this.store.unmountContainer(c.id);
      throw err;
    }
    let conmonPid: number | undefined;
    try {
      conmonPid = Number(fs.readFileSync(path.join(p.runDir, 'conmon.pid'), 'utf8').trim());
    } catch {
      conmonPid = undefined;
    }
    const rec = this.store.updateContainer(c.id, (r) => ({
      state: {
        ...r.state,
        status: 'running',
        pid,
        conmonPid,
        startedAt,
        finishedAt: undefined,
      },
    }));
    this.emit('start', rec);
    return this.toContainer(rec);
  }

  private selfMark(): { pid: number; startTime: string } | undefined {
    const startTime = processStartTime(process.pid);
    return startTime ? { pid: process.pid, startTime } : undefined;
  }

  // ------------------------------------------------------------------ state

  private readExitCode(c: Container): { code: number; at: Date } | undefined {
    for (const f of [c.paths.exitFile, path.join(c.paths.bundle, 'exit')]) {
      try {
        const text = fs.readFileSync(f, 'utf8').trim();
        if (text === '') continue;
        return { code: Number(text), at: fs.statSync(f).mtime };
      } catch {
        // next
      }
    }
    return undefined;
  }

  /** Record + a refresh from the exit file (cheap); with `deep`, also asks the runtime. */
  private refresh(rec: ContainerRecord, deep: boolean): Container {
    const c = this.toContainer(rec);
    if (!RUNNING.has(c.state.status)) return c;
    const exit = this.readExitCode(c);
    let next: Partial<ContainerState> | undefined;
    if (exit) {
      next = { status: 'stopped', exitCode: exit.code, finishedAt: exit.at.toISOString() };
    } else if (deep && this.runtimeStateGone(c)) {
      // The runtime no longer knows it (e.g. after a reboot): it is not running any more.
      next = { status: 'stopped', exitCode: -1, finishedAt: new Date().toISOString() };
    }
    if (!next) return c;
    const updated = this.store.updateContainer(c.id, (r) =>
      RUNNING.has((r.state as unknown as ContainerState).status)
        ? { state: { ...r.state, ...next } }
        : undefined,
    );
    this.emit('died', updated, { exitCode: next.exitCode });
    return this.toContainer(updated);
  }

  /** True when the runtime has no live container for it (state file missing or stopped). */
  private runtimeStateGone(c: Container): boolean {
    const stateFile = path.join(this.runcRoot, c.id, 'state.json');
    if (!fs.existsSync(stateFile)) return true;
    try {
      const s = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as {
        init_process_pid?: number;
        init_process_start?: number;
      };
      const pid = s.init_process_pid;
      if (!pid) return true;
      const start = processStartTime(pid);
      // A zombie or another process with the pid: the container's init is gone. conmon writes
      // the exit file right after, so give it a moment before calling the code unknown.
      if (start === undefined || (s.init_process_start && String(s.init_process_start) !== start)) {
        return !this.waitExitFileSync(c, 1000);
      }
      return false;
    } catch {
      return false;
    }
  }

  private waitExitFileSync(c: Container, ms: number): boolean {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.readExitCode(c)) return true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    return false;
  }

  inspect(ref: string): Container {
    return this.refresh(this.store.lookupContainer(ref), true);
  }

  list(): Container[] {
    return this.store.listContainers().map((r) => this.refresh(r, true));
  }

  /** Resolves with the exit code once the container has stopped running. */
  async wait(ref: string, opts: { signal?: AbortSignal } = {}): Promise<number> {
    const id = this.store.lookupContainer(ref).id;
    let n = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      const rec = this.store.getContainer(id);
      if (!rec) {
        throw new SkiffError('E_CONTAINER_NOT_FOUND', `container ${ref} was removed`);
      }
      // The runtime is asked every second; the exit file every poll.
      const c = this.refresh(rec, n % 20 === 0);
      if (c.state.status === 'stopped' || c.state.status === 'exited') {
        return c.state.exitCode ?? -1;
      }
      n++;
      await sleep(50, undefined, { signal: opts.signal });
    }
  }

  // ------------------------------------------------------------------ signals

  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const c = this.inspect(ref);
    if (!RUNNING.has(c.state.status)) {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not running`);
    }
    const sig = parseSignal(signal);
    const r = await this.oci(this.runtimePath(c.options, c.state), ['kill', c.id, String(sig)]);
    if (r.code !== 0 && !this.readExitCode(c)) {
      throw ociError('runc', r.stderr || `kill failed with ${r.code}`);
    }
    this.emit('kill', c, { signal: sig });
  }

  async stop(ref: string, opts: StopOptions = {}): Promise<Container> {
    let c = this.inspect(ref);
    if (RUNNING.has(c.state.status)) {
      this.store.updateContainer(c.id, (r) => ({ state: { ...r.state, stoppedByUser: true } }));
      const rt = this.runtimePath(c.options, c.state);
      if (c.state.status === 'paused') await this.oci(rt, ['resume', c.id]);
      const imageSignal = this.imageStopSignal(c);
      const sig = parseSignal(c.options.stopSignal ?? imageSignal ?? 'SIGTERM');
      const timeout = opts.timeout ?? c.options.stopTimeout ?? 10;
      if (timeout > 0) await this.oci(rt, ['kill', c.id, String(sig)]);
      const exited = await this.waitFor(c.id, timeout * 1000);
      if (!exited) {
        await this.oci(rt, ['kill', '--all', c.id, '9']);
        if (!(await this.waitFor(c.id, 10_000))) {
          throw new SkiffError(RuntimeErrorCode.Timeout, `container ${c.name} did not stop`);
        }
      }
      this.emit('stop', c);
    }
    await this.cleanup(c.id, { noRestart: true });
    c = this.inspect(c.id);
    return c;
  }

  private imageStopSignal(c: Container): string | undefined {
    try {
      const cfg = JSON.parse(
        Buffer.from(this.store.imageConfig(c.imageId)).toString('utf8'),
      ) as ImageConfig;
      return cfg.config?.StopSignal;
    } catch {
      return undefined;
    }
  }

  private async waitFor(id: string, ms: number): Promise<boolean> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), ms);
    try {
      await this.wait(id, { signal: ac.signal });
      return true;
    } catch (err) {
      if (ac.signal.aborted) return false;
      throw err;
    } finally {
      clearTimeout(t);
    }
  }

  async pause(ref: string): Promise<void> {
    const c = this.inspect(ref);
    if (c.state.status !== 'running') {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not running`);
    }
    const r = await this.oci(this.runtimePath(c.options, c.state), ['pause', c.id]);
    if (r.code !== 0) throw ociError('runc', r.stderr);
    this.store.updateContainer(c.id, (x) => ({ state: { ...x.state, status: 'paused' } }));
    this.emit('pause', c);
  }

  async unpause(ref: string): Promise<void> {
    const c = this.inspect(ref);
    if (c.state.status !== 'paused') {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not paused`);
    }
    const r = await this.oci(this.runtimePath(c.options, c.state), ['resume', c.id]);
    if (r.code !== 0) throw ociError('runc', r.stderr);
    this.store.updateContainer(c.id, (x) => ({ state: { ...x.state, status: 'running' } }));
    this.emit('unpause', c);
  }

  async restart(ref: string, opts: StopOptions = {}): Promise<Container> {
    const c = await this.stop(ref, opts);
    this.emit('restart', c);
    return this.start(c.id);
  }

  // ------------------------------------------------------------------ cleanup / remove

  /**
   * After the container's process ended (conmon's exit command, stop, an attached run):
   * runtime state deleted, rootfs unmounted once, then --rm or the restart policy.
   */
  async cleanup(ref: string, opts: { noRestart?: boolean } = {}): Promise<void> {
    let c: Container;
    try {
      c = this.inspect(ref);
    } catch (err) {
      if ((err as SkiffError).code === 'E_CONTAINER_NOT_FOUND') return;
      throw err;
    }
    if (RUNNING.has(c.state.status) || c.state.status === 'created') return;
    let claimed = false;
    let attached: ContainerState['attachedBy'];
    const rec = this.store.updateContainer(c.id, (r) => {
      const s = r.state as unknown as ContainerState;
      attached = s.attachedBy;
      if (s.status !== 'stopped') return undefined;
      claimed = true;
      return { state: { ...r.state, status: 'exited', mounted: false } };
    });
    if (claimed) {
      if (c.state.ociRuntime) await this.oci(c.state.ociRuntime, ['delete', '--force', c.id]);
      if (c.state.mounted) await this.store.unmountContainer(c.id).catch(() => undefined);
      await this.teardownNetwork(c.id).catch(() => undefined);
      this.emit('cleanup', rec, { exitCode: c.state.exitCode });
    }
    const attachedAlive =
      attached !== undefined &&
      attached.pid !== process.pid &&
      processStartTime(attached.pid) === attached.startTime;
    if (c.options.autoRemove && !attachedAlive) {
      await this.remove(c.id, { force: true, volumes: true }).catch((err) => {
        if ((err as SkiffError).code !== 'E_CONTAINER_NOT_FOUND') throw err;
      });
      return;
    }
    if (claimed && !opts.noRestart && this.shouldRestart(this.toContainer(rec))) {
      this.store.updateContainer(c.id, (r) => ({
        state: { ...r.state, restartCount: ((r.state.restartCount as number) ?? 0) + 1 },
      }));
      this.emit('restart', rec);
      await this.start(c.id);
    }
  }

  private shouldRestart(c: Container): boolean {
    if (!c.options.restart || c.state.stoppedByUser) return false;
    const { policy, maxRetries } = parseRestart(c.options.restart);
    if (policy === 'always' || policy === 'unless-stopped') return true;
    if (policy === 'on-failure') {
      return (
        (c.state.exitCode ?? 0) !== 0 && (maxRetries === 0 || c.state.restartCount < maxRetries)
      );
    }
    return false;
  }

  async remove(ref: string, opts: RemoveOptions = {}): Promise<void> {
    const c = this.inspect(ref);
    if (RUNNING.has(c.state.status)) {
      if (!opts.force) {
        throw new SkiffError(
          RuntimeErrorCode.ContainerRunning,
          `cannot remove container ${c.name} as it is ${c.state.status}`,
          { hint: 'stop the container before removing or force remove' },
        );
      }
      this.store.updateContainer(c.id, (r) => ({ state: { ...r.state, stoppedByUser: true } }));
      const rt = this.runtimePath(c.options, c.state);
      if (c.state.status === 'paused') await this.oci(rt, ['resume', c.id]);
      await this.oci(rt, ['kill', '--all', c.id, '9']);
      await this.waitFor(c.id, 10_000);
    }
    if (c.state.ociRuntime) await this.oci(c.state.ociRuntime, ['delete', '--force', c.id]);
    await this.teardownNetwork(c.id).catch(() => undefined);
    await this.store.removeContainer(c.id);
    if (opts.volumes) await removeAnonymousVolumes(this.store, c.options.mounts ?? []);
    this.emit('remove', c);
  }

  // ------------------------------------------------------------------ output

  async *logs(ref: string, opts: LogsOptions = {}): AsyncGenerator<LogEntry> {
    const c = this.inspect(ref);
    let last = 0;
    let done = false;
    yield* readLog(c.paths.logPath, {
      ...opts,
      isDone: () => {
        if (done) return true;
        if (Date.now() - last < 200) return false;
        last = Date.now();
        const rec = this.store.getContainer(c.id);
        done = !rec || !RUNNING.has(this.refresh(rec, true).state.status);
        return done;
      },
    });
  }

  /**
   * Follows a started container's output to `stdout`/`stderr` until it exits, then runs its
   * cleanup (and --rm removal). Resolves with the exit code.
   */
  async attach(ref: string, opts: AttachOptions = {}): Promise<number> {
    const c = this.inspect(ref);
    if (c.options.tty || c.options.interactive) {
      const code = await this.attachSocket(c, opts);
      if (code !== undefined) return code;
    }
    const streamEnds: Promise<void>[] = [];
    for await (const e of this.logs(c.id, {
      follow: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    })) {
      const out = e.stream === 'stdout' ? opts.stdout : opts.stderr;
      if (out && !out.write(e.newline ? `${e.text}\n` : e.text)) {
        streamEnds.push(new Promise((r) => out.once('drain', () => r())));
        await streamEnds.pop();
      }
    }
    const code = await this.wait(c.id, opts.signal ? { signal: opts.signal } : {});
    await this.cleanup(c.id);
    return code;
  }

  /**
   * attach() of a tty/interactive container through conmon's attach socket; undefined when
   * the container is no longer running (the caller then replays its log).
   */
  private async attachSocket(c: Container, opts: AttachOptions): Promise<number | undefined> {
    const detachKeys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
    let sock = this.earlyAttach.get(c.id);
    this.earlyAttach.delete(c.id);
    if (!sock) {
      if (!RUNNING.has(c.state.status)) return undefined;
      try {
        sock = await connectAttachSocket(c.paths.bundle);
      } catch (err) {
        // conmon is gone (the container just exited): nothing to attach to any more.
        if (!RUNNING.has(this.inspect(c.id).state.status)) return undefined;
        throw err;
      }
    }
    if (opts.size && c.options.tty) {
      try {
        writeResize(c.paths.bundle, opts.size);
      } catch {
        // The container may already have exited; its output still arrives.
      }
    }
    const end = await runAttachSession(sock, {
      ...(c.options.interactive && opts.stdin ? { stdin: opts.stdin } : {}),
      ...(opts.stdout ? { stdout: opts.stdout } : {}),
      ...(opts.stderr ? { stderr: opts.stderr } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      detachKeys,
      closeStdinOnEnd: !c.options.tty,
    });
    if (end === 'detached') {
      throw new SkiffError(RuntimeErrorCode.Detached, `detached from container ${c.name}`);
    }
    const code = await this.wait(c.id, opts.signal ? { signal: opts.signal } : {});
    await this.cleanup(c.id);
    return code;
  }

  /** Resizes a running tty container's pty (conmon's ctl FIFO). */
  resize(ref: string, size: TerminalSize): void {
    const c = this.inspect(ref);
    if (!RUNNING.has(c.state.status)) {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not running`);
    }
    if (!c.options.tty) {
      throw new SkiffError(RuntimeErrorCode.InvalidOption, `container ${c.name} has no tty`);
    }
    writeResize(c.paths.bundle, size);
  }

  async exec(ref: string, opts: ExecOptions): Promise<ExecProcess> {
    const c = this.inspect(ref);
    if (c.state.status !== 'running') {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not running`, {
        hint: 'start it first',
      });
    }
    if (opts.command.length === 0) {
      throw new SkiffError(RuntimeErrorCode.NoCommand, 'exec needs a command');
    }
    const spec = JSON.parse(fs.readFileSync(c.paths.configPath, 'utf8')) as RuntimeSpec;
    const proc: RuntimeProcess = { ...spec.process, args: opts.command, terminal: !!opts.tty };
    if (opts.env) proc.env = mergeEnv(proc.env, opts.env);
    if (opts.workdir) proc.cwd = opts.workdir;
    if (opts.user !== undefined) {
      const u = resolveUser(
        opts.user,
        readRootfsFile(spec.root.path, 'etc/passwd'),
        readRootfsFile(spec.root.path, 'etc/group'),
      );
      proc.user = {
        uid: u.uid,
        gid: u.gid,
        ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}),
      };
      if (!opts.env?.some((e) => e.startsWith('HOME='))) {
        proc.env = mergeEnv(proc.env, [`HOME=${u.home}`]);
      }
    }
    if (opts.privileged && proc.capabilities) {
      const all = [...this.host.capabilities].sort();
      proc.capabilities = { ...proc.capabilities, bounding: all, effective: all, permitted: all };
    }
    const tag = randomBytes(6).toString('hex');
    if ((opts.tty || opts.interactive) && !opts.detach)
      return this.execAttached(c, opts, proc, tag);
    if (opts.tty) proc.terminal = false;
    const processFile = path.join(c.paths.runDir, `exec-${tag}.json`);
    const logFile = path.join(c.paths.runDir, `exec-${tag}.log`);
    fs.writeFileSync(processFile, JSON.stringify(proc));
    const rt = this.runtimePath(c.options, c.state);
    const args = [
      `--root=${this.runcRoot}`,
      '--log-format=json',
      `--log=${logFile}`,
      'exec',
      '--process',
      processFile,
      ...(opts.detach ? ['--detach'] : []),
      c.id,
    ];
    const child = spawn(rt, args, { stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
    this.emit('exec', c);
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const err = runtimeLogError(logFile);
        fs.rmSync(processFile, { force: true });
        fs.rmSync(logFile, { force: true });
        if (code !== 0 && err) {
          // runc's own failure (not the command's exit code): podman's 126/127.
          if (/executable file not found|no such file or directory/i.test(err)) return resolve(127);
          if (/permission denied/i.test(err)) return resolve(126);
        }
        resolve(code ?? 128 + (signal ? parseSignal(signal) : 0));
      });
    });
    return { child, exited };
  }

  /** exec -i/-t: a conmon-supervised session whose I/O goes through its attach socket. */
  private async execAttached(
    c: Container,
    opts: ExecOptions,
    proc: RuntimeProcess,
    tag: string,
  ): Promise<ExecProcess> {
    const conmon = this.cfg.conmonPath ?? findBinary('conmon');
    if (!conmon) {
      throw new SkiffError(RuntimeErrorCode.RuntimeNotFound, 'conmon not found', {
        hint: 'install the conmon package',
      });
    }
    const dir = path.join(c.paths.runDir, `exec-${tag}`);
    fs.mkdirSync(path.join(dir, 'exit'), { recursive: true });
    const processFile = path.join(dir, 'process.json');
    fs.writeFileSync(processFile, JSON.stringify(proc));
    const rt = this.runtimePath(c.options, c.state);
    const args = [
      '--api-version',
      '1',
      '-c',
      c.id,
      '-u',
      tag,
      '-r',
      rt,
      '-b',
      dir,
      '-p',
      path.join(dir, 'pid'),
      '-n',
      c.name,
      // conmon names the exit file after the container id: the session needs its own dir.
      '--exit-dir',
      path.join(dir, 'exit'),
      '-l',
      `k8s-file:${path.join(dir, 'exec.log')}`,
      '--full-attach',
      '--socket-dir-path',
      dir,
      '-e',
      '--exec-process-spec',
      processFile,
      '--exec-attach',
      ...(opts.tty ? ['-t'] : ['-i']),
      '--runtime-arg',
      `--root=${this.runcRoot}`,
    ];
    this.emit('exec', c);
    const ex = await startConmonExec({
      conmon,
      args,
      bundle: dir,
      tty: !!opts.tty,
      ...(opts.size ? { size: opts.size } : {}),
      io: {
        ...(opts.interactive && opts.stdin ? { stdin: opts.stdin } : {}),
        ...(opts.stdout ? { stdout: opts.stdout } : {}),
        ...(opts.stderr ? { stderr: opts.stderr } : {}),
        detachKeys: parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS),
        closeStdinOnEnd: !opts.tty,
      },
    }).catch((err) => {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    const exited = ex.exited.finally(() => {
      // A detached session still runs: its dir (attach socket, ctl) must stay.
      if (fs.existsSync(path.join(dir, 'exit', c.id))) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    return { child: ex.child, exited, resize: ex.resize };
  }

  async top(ref: string, psArgs: string[] = []): Promise<TopResult> {
    const c = this.inspect(ref);
    if (!RUNNING.has(c.state.status)) {
      throw new SkiffError(RuntimeErrorCode.ContainerState, `container ${c.name} is not running`);
    }
    const r = await this.oci(this.runtimePath(c.options, c.state), ['ps', c.id, ...psArgs]);
    if (r.code !== 0) throw ociError('runc', r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
    const titles = (lines.shift() ?? '').trim().split(/\s+/);
    const processes = lines.map((l) => {
      const f = l.trim().split(/\s+/);
      return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
    });
    return { titles, processes };
  }
}
