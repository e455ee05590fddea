// skiff ps, inspect (containers first, then images), logs, exec, top, port: what podman prints
// about containers, from the runtime's records.
import * as fs from 'node:fs';
import {
  alignColumns,
  goMap,
  goStruct,
  isJsonFormat,
  renderJson,
  renderRows,
  renderTemplate,
  Timestamp,
  UsageError,
} from '@skiff/cli-kit';
import { type ImageConfig, SkiffError } from '@skiff/oci-image';
import {
  type Container,
  type ContainerRuntime,
  containerNetworkNames,
  DEFAULT_NETWORK,
  type PortMapping,
  volumeMountpoint,
} from '@skiff/runtime';
import type { Store } from '@skiff/storage';
import { INSPECT_INDENT } from './command-parts.js';
import {
  commandText,
  containerFilter,
  parseLogTime,
  stateName,
  statusText,
} from './container-flags.js';
import { withRuntime } from './containers.js';
import type { GlobalOptions } from './options.js';
import { rfc3339, timeAgo } from './units.js';

/** Go's zero time, as podman prints unset times. */
const ZERO_TIME = '0001-01-01T00:00:00Z';
const ZERO_UNIX = -62135596800;

function unix(iso: string | undefined): number {
  return iso ? Math.floor(new Date(iso).getTime() / 1000) : ZERO_UNIX;
}

function imageConfig(store: Store, c: Container): ImageConfig | undefined {
  try {
    return JSON.parse(Buffer.from(store.imageConfig(c.imageId)).toString('utf8')) as ImageConfig;
  } catch {
    return undefined;
  }
}

/** The command a container runs: its resolved args, or what it will run once started. */
function containerCommand(store: Store, c: Container): string[] {
  if (c.args.length > 0) return c.args;
  const cfg = imageConfig(store, c)?.config;
  const o = c.options;
  const entrypoint = o.entrypoint ?? cfg?.Entrypoint ?? [];
  const cmd = o.command ?? (o.entrypoint ? [] : (cfg?.Cmd ?? []));
  return [...entrypoint, ...cmd].filter((a, i) => !(i === 0 && a === ''));
}

// ------------------------------------------------------------------ ps

export interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  filter?: string[];
  format?: string;
  noTrunc?: boolean;
  trunc?: boolean;
  latest?: boolean;
  last?: string;
  noheading?: boolean;
  size?: boolean;
  sort?: string;
  namespace?: boolean;
}

export async function psCommand(flags: PsFlags, globals: GlobalOptions): Promise<void> {
  if (flags.size) {
    throw new UsageError('--size is not supported yet');
  }
  const noTrunc = Boolean(flags.noTrunc) || flags.trunc === false;
  const filter = containerFilter(flags.filter ?? []);
  const last = flags.last === undefined ? undefined : Number(flags.last);
  if (last !== undefined && !Number.isInteger(last)) {
    throw new UsageError(`invalid argument "${flags.last}" for "-n, --last" flag`);
  }
  await withRuntime(globals, async (rt, store) => {
    let list = rt.list();
    const all = flags.all || flags.latest || (last !== undefined && last >= 0);
    if (
      !all &&
      !(flags.filter ?? []).some((f) => f.startsWith('status=') || f.startsWith('exited='))
    ) {
      list = list.filter((c) => c.state.status === 'running' || c.state.status === 'paused');
    }
    list = list.filter((c) =>
      filter({
        id: c.id,
        name: c.name,
        imageId: c.imageId,
        imageName: c.imageName,
        labels: c.options.labels ?? {},
        status: c.state.status,
        exitCode: c.state.exitCode,
      }),
    );
    if (flags.latest) list = list.slice(0, 1);
    else if (last !== undefined && last >= 0) list = list.slice(0, last);
    if (flags.sort !== undefined) sortContainers(list, flags.sort);
    if (flags.quiet) {
      process.stdout.write(list.map((c) => `${noTrunc ? c.id : c.id.slice(0, 12)}\n`).join(''));
      return;
    }
    const now = Date.now();
    if (isJsonFormat(flags.format)) {
      const json = list.map((c) => psJson(store, c, now));
      process.stdout.write(`${renderJson(json, { indent: '  ' })}\n`);
      return;
    }
    const rows = list.map((c) => psRow(store, c, now, noTrunc));
    let format =
      flags.format === undefined || flags.format === '' || flags.format === 'table'
        ? 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}'
        : flags.format;
    if (flags.noheading && format.startsWith('table')) {
      format = format.replace(/^table ?/, '');
      if (format === '')
        format =
          '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
      process.stdout.write(alignColumns(renderRows(format, rows, { name: 'ps' })));
      return;
    }
    process.stdout.write(
      renderRows(format, rows, {
        name: 'ps',
        headers: { ID: 'CONTAINER ID', CreatedHuman: 'CREATED', CreatedAt: 'CREATED' },
      }),
    );
  });
}

function sortContainers(list: Container[], key: string): void {
  const by: Record<string, (c: Container) => string | number> = {
    command: (c) => c.args.join(' '),
    created: (c) => -c.created.getTime(),
    id: (c) => c.id,
    image: (c) => c.imageName,
    names: (c) => c.name,
    status: (c) => c.state.status,
    runningfor: (c) => -c.created.getTime(),
  };
  const f = by[key];
  if (!f)
    throw new UsageError(`invalid option for --sort, options are: ${Object.keys(by).join(', ')}`);
  list.sort((a, b) => {
    const x = f(a);
    const y = f(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function psJson(store: Store, c: Container, now: number): Record<string, unknown> {
  const exited = c.state.status === 'exited' || c.state.status === 'stopped';
  return {
    AutoRemove: Boolean(c.options.autoRemove),
    Command: containerCommand(store, c),
    CreatedAt: timeAgo(c.created, now),
    Exited: exited,
    ExitedAt: exited ? unix(c.state.finishedAt) : ZERO_UNIX,
    ExitCode: c.state.exitCode ?? 0,
    Id: c.id,
    Image: c.imageName,
    ImageID: c.imageId,
    IsInfra: false,
    Labels: c.options.labels && Object.keys(c.options.labels).length ? c.options.labels : null,
    Mounts: (c.options.mounts ?? []).map((m) => m.destination),
    Names: [c.name],
    Namespaces: {},
    Networks: containerNetworkNames(c.options),
    Pid: isRunning(c) ? (c.state.pid ?? 0) : 0,
    Pod: '',
    PodName: '',
    Ports: containerPorts(c).length > 0 ? containerPorts(c) : null,
    Size: null,
    StartedAt: unix(c.state.startedAt),
    State: stateName(c.state.status),
    Status: statusText(c.state, now),
    Created: Math.floor(c.created.getTime() / 1000),
  };
}

function isRunning(c: Container): boolean {
  return c.state.status === 'running' || c.state.status === 'paused';
}

function psRow(store: Store, c: Container, now: number, noTrunc: boolean) {
  const command = containerCommand(store, c);
  const labels = c.options.labels ?? {};
  return goStruct('psReporter', {
    ID: noTrunc ? c.id : c.id.slice(0, 12),
    Image: c.imageName,
    ImageID: c.imageId,
    Command: commandText(command, noTrunc),
    CreatedHuman: timeAgo(c.created, now),
    Created: new Timestamp(rfc3339(c.created)),
    CreatedAt: c.created.toISOString(),
    RunningFor: timeAgo(c.created, now),
    Status: statusText(c.state, now),
    State: stateName(c.state.status),
    Ports: portsText(containerPorts(c)),
    Names: c.name,
    Labels: labels,
    Mounts: (c.options.mounts ?? []).map((m) => m.destination).join(','),
    ExitCode: c.state.exitCode ?? 0,
    Exited: c.state.status === 'exited' || c.state.status === 'stopped',
    Pid: isRunning(c) ? (c.state.pid ?? 0) : 0,
    Networks: containerNetworkNames(c.options).join(','),
    Pod: '',
    PodName: '',
    AutoRemove: Boolean(c.options.autoRemove),
    Size: '',
  });
}

// ------------------------------------------------------------------ ports and networks

/** The port mappings of a container: what netavark set up while it runs, else what -p asked. */
export function containerPorts(c: Container): PortMapping[] {
  return c.state.network?.ports ?? c.options.publish ?? [];
}

/** ps's PORTS column: "0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->90-91/udp". */
export function portsText(ports: readonly PortMapping[]): string {
  return ports
    .map((p) => {
      const range = (start: number) =>
        p.range > 1 ? `${start}-${start + p.range - 1}` : String(start);
      return `${p.host_ip || '0.0.0.0'}:${range(p.host_port)}->${range(p.container_port)}/${p.protocol}`;
    })
    .join(', ');
}

/** Each single port of the mappings (ranges expanded): "80/tcp" -> host ip and port. */
export function expandPorts(
  ports: readonly PortMapping[],
): { key: string; hostIp: string; hostPort: number }[] {
  const out: { key: string; hostIp: string; hostPort: number }[] = [];
  for (const p of ports) {
    for (let i = 0; i < Math.max(1, p.range); i++) {
      out.push({
        key: `${p.container_port + i}/${p.protocol}`,
        hostIp: p.host_ip,
        hostPort: p.host_port === 0 ? 0 : p.host_port + i,
      });
    }
  }
  return out;
}

/** inspect's Ports / PortBindings map. */
function portBindings(ports: readonly PortMapping[]): Record<string, unknown> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of expandPorts(ports)) {
    const list = out[p.key] ?? [];
    list.push({ HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' });
    out[p.key] = list;
  }
  return goMap(out);
}

/** podman's NetworkMode: bridge for every netavark network. */
function networkMode(network: string | undefined): string {
  const mode = network ?? 'none';
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) return mode;
  return 'bridge';
}

/** inspect's NetworkSettings (podman 4.3's shape). */
function networkSettings(c: Container): Record<string, unknown> {
  const names = containerNetworkNames(c.options);
  const state = isRunning(c) ? c.state.network : undefined;
  const networks: Record<string, unknown> = {};
  for (const name of names) {
    const n = state?.networks[name];
    networks[name] = {
      EndpointID: '',
      Gateway: n?.gateway ?? '',
      IPAddress: n?.ip ?? '',
      IPPrefixLen: n?.prefixLen ?? 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: n?.mac ?? '',
      NetworkID: name,
      DriverOpts: null,
      IPAMConfig: null,
      Links: null,
      Aliases: [...(c.options.networkAliases ?? []), c.id.slice(0, 12)],
    };
  }
  // podman fills the top level when the default network is the only one.
  const only =
    names.length === 1 && names[0] === DEFAULT_NETWORK
      ? state?.networks[DEFAULT_NETWORK]
      : undefined;
  return {
    EndpointID: '',
    Gateway: only?.gateway ?? '',
    IPAddress: only?.ip ?? '',
    IPPrefixLen: only?.prefixLen ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: only?.mac ?? '',
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portBindings(containerPorts(c)),
    SandboxKey: state?.netns ?? '',
    ...(names.length > 0 ? { Networks: goMap(networks) } : {}),
  };
}

// ------------------------------------------------------------------ inspect

/** podman's inspect JSON for a container. */
export function containerInspectData(store: Store, c: Container): Record<string, unknown> {
  const o = c.options;
  const s = c.state;
  const img = imageConfig(store, c);
  const cfg = img?.config ?? {};
  const command = containerCommand(store, c);
  let spec: {
    process?: { env?: string[]; cwd?: string; user?: { uid: number; gid: number } };
    hostname?: string;
  } = {};
  try {
    spec = JSON.parse(fs.readFileSync(c.paths.configPath, 'utf8'));
  } catch {
    // Not started yet: config.json is written at start.
  }
  const running = s.status === 'running' || s.status === 'paused';
  const mounts = (o.mounts ?? []).map((m) =>
    m.type === 'volume'
      ? {
          Type: 'volume',
          Name: m.source ?? '',
          Source: m.source ? volumeMountpoint(store, m.source) : '',
          Destination: m.destination,
          Driver: 'local',
          Mode: '',
          Options: ['nosuid', 'nodev', 'rbind'],
          RW: !m.readonly,
          Propagation: 'rprivate',
        }
      : m.type === 'tmpfs'
        ? {
            Type: 'tmpfs',
            Source: 'tmpfs',
            Destination: m.destination,
            Driver: '',
            Mode: '',
            Options: m.options ?? [],
            RW: !m.readonly,
            Propagation: '',
          }
        : {
            Type: 'bind',
            Source: m.source ?? '',
            Destination: m.destination,
            Driver: '',
            Mode: '',
            Options: ['rbind', ...(m.options ?? []).filter((x) => !/private|shared|slave/.test(x))],
            RW: !m.readonly,
            Propagation:
              (m.options ?? []).find((x) => /private|shared|slave/.test(x)) ?? 'rprivate',
          },
  );
  const binds = (o.mounts ?? [])
    .filter((m) => m.type === 'bind' || m.type === 'volume')
    .map((m) =>
      m.type === 'volume'
        ? `${m.source}:${m.destination}:${m.readonly ? 'ro' : 'rw'},rprivate,nosuid,nodev,rbind`
        : `${m.source}:${m.destination}:${m.readonly ? 'ro' : 'rw'},rprivate,rbind`,
    );
  const tmpfs: Record<string, string> = {};
  for (const m of o.mounts ?? []) {
    if (m.type === 'tmpfs') tmpfs[m.destination] = (m.options ?? []).join(',');
  }
  const restart = o.restart ?? '';
  const [policy = '', retries = '0'] = restart.split(':');
  const hostname = spec.hostname ?? o.hostname ?? c.id.slice(0, 12);
  return {
    Id: c.id,
    Created: c.created.toISOString(),
    Path: command[0] ?? '',
    Args: command.slice(1),
    State: {
      OciVersion: '1.0.2',
      Status: stateName(s.status),
      Running: s.status === 'running',
      Paused: s.status === 'paused',
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (s.pid ?? 0) : 0,
      ConmonPid: running ? (s.conmonPid ?? 0) : 0,
      ExitCode: s.exitCode ?? 0,
      Error: s.error ?? '',
      StartedAt: s.startedAt ?? ZERO_TIME,
      FinishedAt: s.finishedAt ?? ZERO_TIME,
      Health: { Status: '', FailingStreak: 0, Log: null },
      CheckpointedAt: ZERO_TIME,
      RestoredAt: ZERO_TIME,
    },
    Image: c.imageId,
    ImageName: c.imageName,
    Rootfs: '',
    Pod: '',
    ResolvConfPath: `${c.paths.runDir}/resolv.conf`,
    HostnamePath: `${c.paths.runDir}/hostname`,
    HostsPath: `${c.paths.runDir}/hosts`,
    StaticDir: c.paths.bundle,
    OCIConfigPath: c.paths.configPath,
    OCIRuntime: (s.ociRuntime ?? o.runtime ?? 'runc').split('/').pop(),
    Name: c.name,
    RestartCount: s.restartCount ?? 0,
    Driver: store.driver,
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: [],
    GraphDriver: { Name: store.driver, Data: null },
    Mounts: mounts,
    Dependencies: [],
    NetworkSettings: networkSettings(c),
    Namespace: '',
    IsInfra: false,
    Config: {
      Hostname: hostname,
      Domainname: '',
      User: o.user ?? cfg.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: Boolean(o.tty),
      OpenStdin: Boolean(o.interactive),
      StdinOnce: false,
      Env: spec.process?.env ?? [...(cfg.Env ?? []), ...(o.envFile ?? []), ...(o.env ?? [])],
      Cmd: o.command ?? (o.entrypoint ? null : (cfg.Cmd ?? null)),
      Image: c.imageName,
      Volumes: null,
      WorkingDir: spec.process?.cwd ?? o.workdir ?? cfg.WorkingDir ?? '/',
      Entrypoint: (o.entrypoint ?? cfg.Entrypoint ?? []).join(' '),
      OnBuild: null,
      Labels: o.labels && Object.keys(o.labels).length ? o.labels : null,
      Annotations: o.annotations ?? {},
      StopSignal: stopSignalNumber(o.stopSignal ?? cfg.StopSignal),
      Umask: '0022',
      Timeout: 0,
      StopTimeout: o.stopTimeout ?? 10,
    },
    HostConfig: {
      Binds: binds,
      CgroupManager: 'cgroupfs',
      CgroupMode: 'host',
      ContainerIDFile: '',
      LogConfig: { Type: 'k8s-file', Config: null, Path: c.paths.logPath, Tag: '', Size: '0B' },
      NetworkMode: networkMode(o.network),
      PortBindings: portBindings(o.publish ?? []),
      RestartPolicy: {
        Name: policy === 'no' ? '' : policy,
        MaximumRetryCount: Number(retries) || 0,
      },
      AutoRemove: Boolean(o.autoRemove),
      VolumeDriver: '',
      VolumesFrom: null,
      CapAdd: o.capAdd ?? [],
      CapDrop: o.capDrop ?? [],
      Dns: o.dns ?? [],
      DnsOptions: o.dnsOptions ?? [],
      DnsSearch: o.dnsSearch ?? [],
      ExtraHosts: o.addHosts ?? [],
      GroupAdd: o.groupAdd ?? [],
      IpcMode: o.ipc === 'host' ? 'host' : 'shareable',
      Cgroup: '',
      Cgroups: 'default',
      Links: null,
      OomScoreAdj: 0,
      PidMode: o.pid ?? 'private',
      Privileged: Boolean(o.privileged),
      PublishAllPorts: Boolean(o.publishAll),
      ReadonlyRootfs: Boolean(o.readOnly),
      SecurityOpt: [],
      Tmpfs: tmpfs,
      UTSMode: o.uts ?? 'private',
      UsernsMode: '',
      ShmSize: o.shmSize ?? 65536000,
      Runtime: 'oci',
      ConsoleSize: [0, 0],
      CpuShares: 0,
      Memory: o.memory ?? 0,
      NanoCpus: o.cpus ? Math.round(o.cpus * 1e9) : 0,
      CgroupParent: '',
      CpuPeriod: 0,
      CpuQuota: 0,
      MemoryReservation: 0,
      MemorySwap: o.memorySwap ?? (o.memory ? o.memory * 2 : 0),
      MemorySwappiness: -1,
      OomKillDisable: false,
      PidsLimit: o.pidsLimit ?? 2048,
      Ulimits: (o.ulimits ?? []).map((u) => ({
        Name: `RLIMIT_${u.name.toUpperCase()}`,
        Soft: u.soft,
        Hard: u.hard,
      })),
    },
  };
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGSTOP: 19,
  SIGWINCH: 28,
};

function stopSignalNumber(sig: string | undefined): number {
  if (sig === undefined) return 15;
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = sig.toUpperCase();
  return SIGNALS[name.startsWith('SIG') ? name : `SIG${name}`] ?? 15;
}

/** podman prints inspect JSON indented by one more space than MarshalIndent's four. */
export interface InspectFlags {
  format?: string;
  type?: string;
  latest?: boolean;
  size?: boolean;
}

/**
 * `skiff inspect` / `skiff container inspect`: containers first, then images (podman's order
 * for `--type all`); `container inspect` looks at containers only.
 */
export async function inspectObjects(
  names: string[],
  flags: InspectFlags,
  globals: GlobalOptions,
  kind: 'all' | 'container',
): Promise<void> {
  const type = kind === 'container' ? 'container' : (flags.type ?? 'all');
  if (!['all', 'container', 'image'].includes(type)) {
    throw new UsageError(`invalid type "${type}": skiff inspects containers and images`, {
      hint: 'use --type container, image or all',
    });
  }
  await withRuntime(globals, async (rt, store) => {
    if (flags.latest) {
      const latest = rt.list()[0];
      if (!latest) throw new SkiffError('E_CONTAINER_NOT_FOUND', 'no containers to inspect');
      names = [latest.id, ...names];
    }
    if (names.length === 0) throw new UsageError('inspect requires at least one name or id');
    const found: Record<string, unknown>[] = [];
    let missing: string | undefined;
    for (const n of names) {
      const data = await lookupObject(rt, store, n, type);
      if (data) found.push(data);
      else missing ??= n;
    }
    if (flags.format === undefined || isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(found, { indent: INSPECT_INDENT })}\n`);
    } else {
      let out = '';
      for (const data of found) out += renderTemplate(flags.format, data, { name: 'inspect' });
      process.stdout.write(out);
    }
    if (missing !== undefined) {
      const what =
        type === 'container'
          ? `no such container "${missing}"`
          : type === 'image'
            ? `${missing}: image not known`
            : `no such object: "${missing}"`;
      throw new SkiffError('E_NOT_FOUND', `inspecting object: ${what}`);
    }
  });
}

async function lookupObject(
  rt: ContainerRuntime,
  store: Store,
  name: string,
  type: string,
): Promise<Record<string, unknown> | undefined> {
  if (type !== 'image') {
    try {
      return goStruct('define.InspectContainerData', containerInspectData(store, rt.inspect(name)));
    } catch (err) {
      if ((err as { code?: string }).code !== 'E_CONTAINER_NOT_FOUND') throw err;
    }
  }
  if (type !== 'container') {
    const img = store.findImage(name);
    if (img) {
      const { inspectData } = await import('./image-info.js');
      return goStruct('inspect.ImageData', inspectData(store, img));
    }
  }
  return undefined;
}

// ------------------------------------------------------------------ logs

export interface LogsFlags {
  follow?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  timestamps?: boolean;
  latest?: boolean;
  names?: boolean;
}

export async function logsCommand(
  refs: string[],
  flags: LogsFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  const tail = flags.tail === undefined ? -1 : Number(flags.tail);
  if (!Number.isInteger(tail))
    throw new UsageError(`invalid argument "${flags.tail}" for "--tail" flag`);
  const since = flags.since === undefined ? undefined : parseLogTime('--since', flags.since);
  const until = flags.until === undefined ? undefined : parseLogTime('--until', flags.until);
  await withRuntime(globals, async (rt) => {
    if (flags.latest) {
      const latest = rt.list()[0];
      if (!latest) throw new SkiffError('E_CONTAINER_NOT_FOUND', 'no containers to show logs of');
      refs = [latest.id];
    }
    if (refs.length === 0) throw new UsageError('logs requires at least one container name or id');
    const containers = refs.map((r) => rt.inspect(r));
    const prefix = refs.length > 1 || flags.names;
    for (const c of containers) {
      try {
        for await (const e of rt.logs(c.id, {
          follow: Boolean(flags.follow),
          ...(tail >= 0 ? { tail } : {}),
          ...(since ? { since } : {}),
          ...(until ? { until } : {}),
          signal,
        })) {
          const out = e.stream === 'stderr' ? process.stderr : process.stdout;
          let line = e.newline ? `${e.text}\n` : e.text;
          if (flags.timestamps) line = `${e.timestamp} ${line}`;
          if (prefix) line = `${flags.names ? c.name : c.id.slice(0, 12)} ${line}`;
          if (!out.write(line)) await new Promise((r) => out.once('drain', r));
        }
      } catch (err) {
        // Ctrl-C ends `logs -f` quietly, as podman's does.
        if (signal.aborted) return;
        throw err;
      }
    }
  });
}

// ------------------------------------------------------------------ exec / top / port

export interface ExecFlags {
  detach?: boolean;
  env?: string[];
  envFile?: string[];
  user?: string;
  workdir?: string;
  interactive?: boolean;
  tty?: boolean;
  privileged?: boolean;
  latest?: boolean;
  detachKeys?: string;
}

export async function execCommand(
  ref: string,
  command: string[],
  flags: ExecFlags,
  globals: GlobalOptions,
): Promise<number> {
  const { parseDetachKeys, parseEnvFile, resolveEnvArg } = await import('@skiff/runtime');
  if (flags.detachKeys !== undefined) parseDetachKeys(flags.detachKeys);
  const env = [
    ...(flags.envFile ?? []).flatMap((f) => parseEnvFile(fs.readFileSync(f, 'utf8'), process.env)),
    ...(flags.env ?? []).flatMap((e) => resolveEnvArg(e, process.env)),
  ];
  return withRuntime(globals, async (rt) => {
    if (flags.latest) {
      const latest = rt.list()[0];
      if (!latest) throw new SkiffError('E_CONTAINER_NOT_FOUND', 'no containers to exec in');
      command = [ref, ...command];
      ref = latest.id;
    }
    if (command.length === 0)
      throw new UsageError('must provide a non-empty command to start an exec session');
    const base = {
      command,
      ...(env.length > 0 ? { env } : {}),
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
      ...(flags.privileged ? { privileged: true } : {}),
    };
    if (flags.detach) {
      const p = await rt.exec(ref, {
        ...base,
        detach: true,
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      return p.exited;
    }
    if (flags.tty || flags.interactive) {
      const tty = Boolean(flags.tty);
      const interactive = Boolean(flags.interactive);
      const { execAttached, terminalSize } = await import('./attach.js');
      const size = tty ? terminalSize() : undefined;
      return execAttached(
        () =>
          rt.exec(ref, {
            ...base,
            tty,
            interactive,
            ...(interactive ? { stdin: process.stdin } : {}),
            stdout: process.stdout,
            stderr: process.stderr,
            ...(flags.detachKeys !== undefined ? { detachKeys: flags.detachKeys } : {}),
            ...(size ? { size } : {}),
          }),
        tty,
        interactive,
      );
    }
    const p = await rt.exec(ref, { ...base, stdio: ['ignore', 'inherit', 'inherit'] });
    return p.exited;
  });
}

export async function topCommand(
  ref: string,
  psArgs: string[],
  flags: { latest?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  await withRuntime(globals, async (rt) => {
    let target = ref;
    if (flags.latest) {
      const latest = rt.list()[0];
      if (!latest) throw new SkiffError('E_CONTAINER_NOT_FOUND', 'no containers');
      if (ref !== undefined) psArgs = [ref, ...psArgs];
      target = latest.id;
    }
    if (target === undefined)
      throw new UsageError('you must provide the name or id of a running container');
    let top: Awaited<ReturnType<ContainerRuntime['top']>>;
    try {
      top = await rt.top(target, psArgs);
    } catch (err) {
      if ((err as { code?: string }).code === 'E_CONTAINER_NOT_FOUND') {
        throw new SkiffError(
          'E_CONTAINER_NOT_FOUND',
          `unable to look up requested container: ${(err as Error).message}`,
        );
      }
      throw err;
    }
    const lines = [top.titles, ...top.processes].map((r) => `${r.join('\t')}\n`).join('');
    process.stdout.write(alignColumns(lines));
  });
}

export async function portCommand(
  ref: string | undefined,
  port: string | undefined,
  flags: { all?: boolean; latest?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  let want: string | undefined;
  if (port !== undefined || ((flags.all || flags.latest) && ref !== undefined)) {
    // With -a/-l the first operand is the port.
    const text = port ?? ref!;
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(text);
    if (!m) throw new UsageError(`invalid port "${text}": use PORT[/PROTOCOL]`);
    want = `${m[1]}/${m[2] ?? 'tcp'}`;
  }
  await withRuntime(globals, async (rt) => {
    let list: Container[];
    if (flags.all) list = rt.list().filter(isRunning);
    else if (flags.latest) list = rt.list().slice(0, 1);
    else {
      if (ref === undefined) throw new UsageError('you must supply a running container name or ID');
      list = [rt.inspect(ref)];
    }
    let out = '';
    for (const c of list) {
      if (!isRunning(c)) continue;
      const ports = expandPorts(containerPorts(c));
      if (want !== undefined) {
        const found = ports.find((p) => p.key === want);
        if (!found) {
          if (flags.all) continue;
          throw new SkiffError(
            'E_PORT_NOT_FOUND',
            `failed to find published port "${port ?? ref}"`,
          );
        }
        out += `${found.hostIp || '0.0.0.0'}:${found.hostPort}\n`;
        continue;
      }
      const prefix = flags.all ? `${c.id.slice(0, 12)}\t` : '';
      for (const p of ports) out += `${prefix}${p.key} -> ${p.hostIp || '0.0.0.0'}:${p.hostPort}\n`;
    }
    process.stdout.write(out);
  });
}
