import * as path from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';
import { translateSeccomp } from './seccomp.js';
import type {
  ContainerOptions,
  HostInfo,
  RuntimeMount,
  RuntimeSpec,
  SpecContext,
  SpecImage,
} from './types.js';
import { resolveUser } from './user.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** containers.conf's default_capabilities (podman 4). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

/** podman's masked paths (hidden from the container unless --privileged). */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/dev/block',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
  '/sys/fs/selinux',
];

export const READONLY_PATHS = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Where `--init` puts catatonit inside the container. */
export const INIT_PATH = '/run/skiff-init';

/** cgroupfs parent of every container (podman uses /libpod_parent). */
export const CGROUP_PARENT = '/skiff_parent';

/** podman's rootful defaults, clamped to the host's hard limits. */
const DEFAULT_NOFILE = 1048576;
const DEFAULT_NPROC = 4194304;

function normalizeCap(c: string): string {
  const up = c.trim().toUpperCase();
  return up === 'ALL' || up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** The bounding set after `--cap-add/--cap-drop/--privileged`, in a stable order. */
export function capabilitySet(options: ContainerOptions, host: HostInfo): string[] {
  if (options.privileged) return [...host.capabilities].sort();
  const add = (options.capAdd ?? []).map(normalizeCap);
  const drop = (options.capDrop ?? []).map(normalizeCap);
  let caps = new Set<string>(drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES);
  if (add.includes('ALL')) caps = new Set(host.capabilities);
  for (const c of add) if (c !== 'ALL') caps.add(c);
  for (const c of drop) if (c !== 'ALL' && !add.includes(c)) caps.delete(c);
  return [...caps].sort();
}

/** Process args as podman makes them: entrypoint + command, `--entrypoint ''` clears. */
export function processArgs(config: SpecImage['config'], options: ContainerOptions): string[] {
  const img = config.config ?? {};
  const userEntrypoint = options.entrypoint;
  const entrypoint =
    userEntrypoint && userEntrypoint.length > 0 ? userEntrypoint : (img.Entrypoint ?? []);
  const args: string[] = [];
  if (!(entrypoint.length === 1 && entrypoint[0] === '')) args.push(...entrypoint);
  let command = options.command ?? [];
  // An explicit entrypoint drops the image's Cmd (docker/podman semantics).
  if (command.length === 0 && !(userEntrypoint && userEntrypoint.length > 0)) {
    command = img.Cmd ?? [];
  }
  args.push(...command);
  if (args.length === 0) {
    throw new SkiffError(
      RuntimeErrorCode.NoCommand,
      'no command or entrypoint provided, and no CMD or ENTRYPOINT from image',
    );
  }
  return options.init ? [INIT_PATH, '--', ...args] : args;
}

/** Merges KEY=VALUE lists; a later key replaces an earlier one in place. */
export function mergeEnv(...lists: (readonly string[] | null | undefined)[]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const entry of list ?? []) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      map.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  return [...map].map(([k, v]) => `${k}=${v}`);
}

function hostname(options: ContainerOptions, ctx: SpecContext): string {
  return options.hostname ?? ctx.id.slice(0, 12);
}

function destinationDepth(p: string): number {
  return path.posix.normalize(p).split('/').filter(Boolean).length;
}

function userMounts(options: ContainerOptions): RuntimeMount[] {
  const out: RuntimeMount[] = [];
  for (const m of options.mounts ?? []) {
    const extra = (m.options ?? []).filter((o) => o !== 'ro' && o !== 'rw');
    if (m.type === 'bind') {
      const opts = extra.some((o) => o === 'bind' || o === 'rbind') ? extra : ['rbind', ...extra];
      if (!opts.some((o) => /^r?(shared|slave|private|unbindable)$/.test(o))) opts.push('rprivate');
      if (m.readonly) opts.push('ro');
      out.push({ destination: m.destination, type: 'bind', source: m.source ?? '', options: opts });
    } else if (m.type === 'volume') {
      // Volumes are turned into binds of their _data dir before (volume.ts); a leftover is a bug.
      throw new SkiffError(RuntimeErrorCode.InvalidOption, `unresolved volume at ${m.destination}`);
    } else {
      const opts = extra.length > 0 ? extra : ['noexec', 'nosuid', 'nodev'];
      out.push({
        destination: m.destination,
        type: 'tmpfs',
        source: 'tmpfs',
        options: [m.readonly ? 'ro' : 'rw', ...opts.filter((o) => o !== 'rw')],
      });
    }
  }
  return out;
}

/**
 * The OCI runtime config of a container: pure, everything it depends on is in its arguments
 * (the image's config and user files, the options, the host facts, the container's paths).
 */
export function generateSpec(
  image: SpecImage,
  options: ContainerOptions,
  host: HostInfo,
  ctx: SpecContext,
): RuntimeSpec {
  const img = image.config.config ?? {};
  const user = resolveUser(
    options.user ?? img.User ?? '',
    image.passwd,
    image.group,
    options.groupAdd,
  );
  const hostUts = options.uts === 'host';
  const name = hostUts ? host.hostname : hostname(options, ctx);
  // container=podman, not "skiff": systemd and other tools know podman's value.
  const env = mergeEnv([DEFAULT_PATH, 'TERM=xterm'], img.Env, options.envFile, options.env, [
    'container=podman',
  ]);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${name}`);

  const caps = capabilitySet(options, host);
  const rootUser = user.uid === 0;
  // podman: a non-root user gets the bounding set only; effective/permitted hold what was added.
  const added = (options.capAdd ?? []).map(normalizeCap).filter((c) => caps.includes(c));
  const processCaps = rootUser || options.privileged ? caps : added;

  const rlimits = new Map<string, { soft: number; hard: number }>();
  rlimits.set('RLIMIT_NOFILE', { soft: DEFAULT_NOFILE, hard: DEFAULT_NOFILE });
  rlimits.set('RLIMIT_NPROC', { soft: DEFAULT_NPROC, hard: DEFAULT_NPROC });
  for (const u of options.ulimits ?? []) {
    rlimits.set(`RLIMIT_${u.name.toUpperCase()}`, { soft: u.soft, hard: u.hard });
  }
  const clamp = (type: string, soft: number, hard: number) => {
    const max =
      type === 'RLIMIT_NOFILE'
        ? host.hardLimits.nofile
        : type === 'RLIMIT_NPROC'
          ? host.hardLimits.nproc
          : Number.POSITIVE_INFINITY;
    const h = Math.min(hard, max);
    return { type, hard: h, soft: Math.min(soft, h) };
  };

  const privileged = options.privileged === true;
  const shmSize = options.shmSize ?? 64 * 1024 * 1024;
  const sysRo = privileged ? [] : ['ro'];
  const defaults: RuntimeMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', ...sysRo],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', ...sysRo],
    },
  ];
  const files: RuntimeMount[] = ['hosts', 'resolv.conf', 'hostname'].map((f) => ({
    destination: `/etc/${f}`,
    type: 'bind',
    source: path.join(ctx.runDir, f),
    options: ['bind', 'rprivate'],
  }));
  if (options.readOnly && options.readOnlyTmpfs !== false) {
    for (const d of ['/tmp', '/var/tmp', '/run']) {
      files.push({
        destination: d,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['rw', 'rprivate', 'nosuid', 'nodev'],
      });
    }
  }
  if (options.init) {
    if (!host.initPath) {
      throw new SkiffError(
        RuntimeErrorCode.RuntimeNotFound,
        '--init needs catatonit, which was not found',
        { hint: 'install the catatonit package' },
      );
    }
    files.push({
      destination: INIT_PATH,
      type: 'bind',
      source: host.initPath,
      options: ['bind', 'private', 'ro'],
    });
  }
  const requested = userMounts(options);
  const taken = new Set(requested.map((m) => path.posix.normalize(m.destination)));
  const mounts = [...defaults, ...files]
    .filter((m) => !taken.has(m.destination))
    .concat(
      [...requested].sort(
        (a, b) => destinationDepth(a.destination) - destinationDepth(b.destination),
      ),
    );

  const namespaces: RuntimeSpec['linux']['namespaces'] = [];
  if (options.pid !== 'host') namespaces.push({ type: 'pid' });
  if (options.network !== 'host') {
    namespaces.push({ type: 'network', ...(ctx.netnsPath ? { path: ctx.netnsPath } : {}) });
  }
  if (options.ipc !== 'host') namespaces.push({ type: 'ipc' });
  if (!hostUts) namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'mount' });
  // podman's default cgroupns: private on cgroup v2, host on v1.
  if (host.cgroupVersion === 2) namespaces.push({ type: 'cgroup' });

  const resources: NonNullable<RuntimeSpec['linux']['resources']> = {
    devices: [{ allow: privileged, access: 'rwm' }],
  };
  if (options.memory !== undefined) {
    resources.memory = { limit: options.memory };
    if (options.memorySwap !== undefined) resources.memory.swap = options.memorySwap;
  }
  if (options.cpus !== undefined) {
    resources.cpu = { quota: Math.round(options.cpus * 100000), period: 100000 };
  }
  if (options.pidsLimit !== undefined) resources.pids = { limit: options.pidsLimit };

  const stopSignal = options.stopSignal ?? img.StopSignal;
  const annotations: Record<string, string> = {
    'io.container.manager': 'skiff',
    ...(stopSignal ? { 'org.opencontainers.image.stopSignal': stopSignal } : {}),
    ...(options.annotations ?? {}),
  };

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: options.tty === true,
      user: {
        uid: user.uid,
        gid: user.gid,
        ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}),
      },
      args: processArgs(image.config, options),
      env,
      cwd: options.workdir || img.WorkingDir || '/',
      capabilities: {
        bounding: caps,
        effective: processCaps,
        inheritable: [],
        permitted: processCaps,
        ambient: [],
      },
      rlimits: [...rlimits].map(([type, l]) => clamp(type, l.soft, l.hard)),
      ...(options.noNewPrivileges ? { noNewPrivileges: true } : {}),
    },
    root: { path: ctx.rootfs, ...(options.readOnly ? { readonly: true } : {}) },
    ...(hostUts ? {} : { hostname: name }),
    mounts,
    annotations,
    linux: {
      namespaces,
      resources,
      cgroupsPath: `${CGROUP_PARENT}/skiff-${ctx.id}`,
    },
  };
  if (options.network !== 'host') spec.linux.sysctl = { 'net.ipv4.ping_group_range': '0 0' };
  if (!privileged && ctx.seccompProfile) {
    spec.linux.seccomp = translateSeccomp(ctx.seccompProfile, {
      arch: host.arch,
      capabilities: caps,
      kernel: host.kernel,
    });
  }
  if (!privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
  }
  return spec;
}
