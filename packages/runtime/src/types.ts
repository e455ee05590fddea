/** The parts of the OCI runtime-spec (config.json, spec 1.0.2) that Skiff writes. */
export interface RuntimeSpec {
  ociVersion: string;
  process: RuntimeProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: RuntimeMount[];
  annotations?: Record<string, string>;
  linux: RuntimeLinux;
}

export interface RuntimeProcess {
  terminal?: boolean;
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: {
    bounding: string[];
    effective: string[];
    inheritable: string[];
    permitted: string[];
    ambient: string[];
  };
  rlimits?: { type: string; hard: number; soft: number }[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}

export interface RuntimeMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface RuntimeLinux {
  namespaces: { type: NamespaceType; path?: string }[];
  resources?: {
    devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[];
    memory?: { limit?: number; reservation?: number; swap?: number };
    cpu?: { quota?: number; period?: number; shares?: number; cpus?: string };
    pids?: { limit: number };
  };
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  seccomp?: LinuxSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

export type NamespaceType = 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user';

export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: LinuxSyscall[];
}

export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

/** containers-common's seccomp.json (the moby/podman profile format). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  syscalls?: {
    name?: string;
    names?: string[];
    action: string;
    errnoRet?: number;
    args?: { index: number; value: number; valueTwo?: number; op: string }[] | null;
    includes?: SeccompFilter;
    excludes?: SeccompFilter;
  }[];
}

export interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** A bind, tmpfs or volume mount the user asked for (`-v`, `--mount`, `--tmpfs`). */
export interface MountRequest {
  type: 'bind' | 'tmpfs' | 'volume';
  /** Host path for binds; the volume name for volumes (absent: a new anonymous volume); unused for tmpfs. */
  source?: string;
  /** A volume made for this container (`-v /path`, the image's VOLUME): removed with `rm -v`/`--rm`. */
  anonymous?: boolean;
  destination: string;
  readonly?: boolean;
  /** Extra mount options passed through (nosuid, nodev, noexec, size=, mode=, propagation). */
  options?: string[];
}

export interface Ulimit {
  /** Name without the RLIMIT_ prefix, lower case: nofile, nproc, core, ... */
  name: string;
  soft: number;
  hard: number;
}

/** How a container is configured: what `skiff create/run` flags say. Plain JSON; kept in the container record. */
export interface ContainerOptions {
  /** Arguments after the image: replace the image's Cmd. */
  command?: string[];
  /** Replaces the image's Entrypoint (and drops its Cmd); `['']` (from `--entrypoint ''`) clears it. */
  entrypoint?: string[];
  /** `-e` entries, `KEY=VALUE` (resolve `-e KEY` against the caller's env before). Later wins. */
  env?: string[];
  /** Parsed `--env-file` entries, applied before `env`. */
  envFile?: string[];
  /** `--user name|uid[:group|gid]`; default the image's User, else root. */
  user?: string;
  /** `--group-add` names or gids. */
  groupAdd?: string[];
  workdir?: string;
  /** `-t`: allocate a terminal (needs the attach socket; see RUNTIME-API.md). */
  tty?: boolean;
  /** `-i`: keep stdin open. */
  interactive?: boolean;
  hostname?: string;
  /** `--label`: stored on the container (ps --filter label=, inspect Config.Labels). */
  labels?: Record<string, string>;
  /** `--annotation`: written to config.json's annotations. */
  annotations?: Record<string, string>;
  /** `--stop-signal` (name or number); default the image's StopSignal, else SIGTERM. */
  stopSignal?: string;
  /** `--stop-timeout` seconds; default 10. */
  stopTimeout?: number;
  ulimits?: Ulimit[];
  mounts?: MountRequest[];
  /** `--read-only` root filesystem (with tmpfs on /tmp, /var/tmp, /run unless readOnlyTmpfs is false). */
  readOnly?: boolean;
  readOnlyTmpfs?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** `--security-opt no-new-privileges` (podman's default is off). */
  noNewPrivileges?: boolean;
  /** `--security-opt seccomp=unconfined|PATH`; default containers-common's profile. */
  seccomp?: string;
  /** `--security-opt mask=`/`unmask=` are not handled yet. */
  pid?: 'private' | 'host';
  ipc?: 'private' | 'host';
  uts?: 'private' | 'host';
  /**
   * `--network`: `none` (default at this API; the CLI passes `bridge` as podman's default),
   * `host`, `bridge` (the default network), `NAME[,NAME...]`, `container:ID|NAME`.
   */
  network?: string;
  /** `-p` mappings (parsePublish); host_port 0 = a free port picked at start. */
  publish?: import('./netavark.js').PortMapping[];
  /** `-P`: publish the image's ExposedPorts on free host ports. */
  publishAll?: boolean;
  /** `--network-alias`: extra DNS names on user networks. */
  networkAliases?: string[];
  /** `--ip`: the address on the (first) network. */
  ip?: string;
  /** Bytes. */
  memory?: number;
  /** Bytes (memory + swap); -1 unlimited. */
  memorySwap?: number;
  cpus?: number;
  pidsLimit?: number;
  /** `/dev/shm` size in bytes (default 64 MiB). */
  shmSize?: number;
  /** `--init`: run catatonit as PID 1. */
  init?: boolean;
  /** `--rm`: remove after the container exits (done by cleanup). */
  autoRemove?: boolean;
  /** `--restart no|on-failure[:N]|always|unless-stopped`. */
  restart?: string;
  /** `--runtime`: runc (default) or crun, a name or a path. */
  runtime?: string;
  /** `--dns`, `--dns-search`, `--dns-option`; `--add-host host:ip`. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  addHosts?: string[];
}

/** What the side-effect layer found out before `generateSpec`: container identity and paths. */
export interface SpecContext {
  id: string;
  name: string;
  /** The mounted container root filesystem. */
  rootfs: string;
  /** The container's run directory holding hosts, resolv.conf, hostname. */
  runDir: string;
  /** Parsed seccomp profile, or null for unconfined. */
  seccompProfile: SeccompProfile | null;
  /** The network namespace to join (bridge networks, `container:`); absent: a new one. */
  netnsPath?: string;
}

/** Facts about the host the spec depends on; `detectHost()` gathers them. */
export interface HostInfo {
  /** Go architecture name (amd64, arm64, ...). */
  arch: string;
  /** Kernel release, e.g. "6.1.0". */
  kernel: string;
  /** The host's hostname (for `--uts host`). */
  hostname: string;
  /** Hard limits of this process: a config must not ask for more. */
  hardLimits: { nofile: number; nproc: number };
  /** The capability bounding set of this process (CAP_*). */
  capabilities: string[];
  /** 1 for cgroup v1 or hybrid, 2 for the unified hierarchy. */
  cgroupVersion: 1 | 2;
  /** catatonit for `--init`. */
  initPath?: string;
}

/** An image as spec generation sees it: its config and the user database read from its rootfs. */
export interface SpecImage {
  config: import('@skiff/oci-image').ImageConfig;
  /** Contents of the rootfs's /etc/passwd and /etc/group (undefined when absent). */
  passwd?: string;
  group?: string;
}
