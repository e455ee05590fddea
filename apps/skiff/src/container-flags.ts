// Pure helpers of the container commands: create/run flags to ContainerOptions, podman's
// status texts, ps filters and random names. No I/O here beyond what callers pass in.
import { UsageError } from '@skiff/cli-kit';
import {
  type ContainerOptions,
  type ContainerStatus,
  type MountRequest,
  parseEntrypoint,
  parseEnvFile,
  parseMount,
  parsePublish,
  parseRestart,
  parseSignal,
  parseSize,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  resolveEnvArg,
} from '@skiff/runtime';
import { keyValues, safeRegExp } from './command-parts.js';
import { humanDuration } from './units.js';

/** The flags of `skiff create` and `skiff run` (commander's camelCase names). */
export interface CreateFlags {
  name?: string;
  rm?: boolean;
  detach?: boolean;
  env?: string[];
  envFile?: string[];
  user?: string;
  groupAdd?: string[];
  workdir?: string;
  entrypoint?: string;
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  readOnly?: boolean;
  readOnlyTmpfs?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  pidsLimit?: string;
  shmSize?: string;
  ulimit?: string[];
  hostname?: string;
  label?: string[];
  annotation?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  init?: boolean;
  network?: string;
  net?: string;
  pid?: string;
  ipc?: string;
  uts?: string;
  restart?: string;
  pull?: string;
  tty?: boolean;
  interactive?: boolean;
  runtime?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  addHost?: string[];
  publish?: string[];
  publishAll?: boolean;
  networkAlias?: string[];
  ip?: string;
  detachKeys?: string;
}

/** What the flag parsing needs from the outside world. */
export interface FlagContext {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
}

function namespaceMode(flag: string, value: string | undefined): 'private' | 'host' | undefined {
  if (value === undefined) return undefined;
  if (value === 'host' || value === 'private') return value;
  throw new UsageError(`${flag} "${value}" is not supported yet: use host or private`);
}

function number(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`invalid argument "${value}" for "${flag}" flag`);
  }
  return n;
}

/** Turns create/run flags and the command after the image into the runtime's options. */
export function containerOptions(
  flags: CreateFlags,
  command: string[],
  ctx: FlagContext,
): ContainerOptions {
  const o: ContainerOptions = {};
  if (command.length > 0) o.command = command;
  if (flags.tty) o.tty = true;
  if (flags.interactive) o.interactive = true;
  if (flags.entrypoint !== undefined) o.entrypoint = parseEntrypoint(flags.entrypoint);
  const envFile: string[] = [];
  for (const f of flags.envFile ?? []) envFile.push(...parseEnvFile(ctx.readFile(f), ctx.env));
  if (envFile.length > 0) o.envFile = envFile;
  const env = (flags.env ?? []).flatMap((e) => resolveEnvArg(e, ctx.env));
  if (env.length > 0) o.env = env;
  if (flags.user !== undefined) o.user = flags.user;
  if (flags.groupAdd?.length) o.groupAdd = flags.groupAdd;
  if (flags.workdir !== undefined) o.workdir = flags.workdir;
  if (flags.hostname !== undefined) o.hostname = flags.hostname;
  if (flags.label?.length) o.labels = keyValues('--label', flags.label);
  if (flags.annotation?.length) o.annotations = keyValues('--annotation', flags.annotation);
  if (flags.stopSignal !== undefined) {
    parseSignal(flags.stopSignal);
    o.stopSignal = flags.stopSignal;
  }
  const stopTimeout = number('--stop-timeout', flags.stopTimeout, true);
  if (stopTimeout !== undefined) o.stopTimeout = stopTimeout;
  if (flags.ulimit?.length) o.ulimits = flags.ulimit.map((u) => parseUlimit(u));
  const mounts: MountRequest[] = [
    ...(flags.volume ?? []).map((v) => parseVolume(v)),
    ...(flags.mount ?? []).map((m) => parseMount(m)),
    ...(flags.tmpfs ?? []).map((t) => parseTmpfs(t)),
  ];
  if (mounts.length > 0) o.mounts = mounts;
  if (flags.readOnly) o.readOnly = true;
  if (flags.readOnlyTmpfs === false) o.readOnlyTmpfs = false;
  if (flags.privileged) o.privileged = true;
  if (flags.capAdd?.length) o.capAdd = flags.capAdd;
  if (flags.capDrop?.length) o.capDrop = flags.capDrop;
  for (const s of flags.securityOpt ?? []) {
    if (s === 'no-new-privileges' || s === 'no-new-privileges=true') o.noNewPrivileges = true;
    else if (s.startsWith('seccomp=')) o.seccomp = s.slice('seccomp='.length);
    else throw new UsageError(`--security-opt "${s}" is not supported yet`);
  }
  const pid = namespaceMode('--pid', flags.pid);
  if (pid) o.pid = pid;
  const ipc = namespaceMode('--ipc', flags.ipc);
  if (ipc) o.ipc = ipc;
  const uts = namespaceMode('--uts', flags.uts);
  if (uts) o.uts = uts;
  Object.assign(o, networkOptions(flags));
  if (flags.memory !== undefined) o.memory = parseSize(flags.memory);
  if (flags.memorySwap !== undefined) {
    o.memorySwap = flags.memorySwap === '-1' ? -1 : parseSize(flags.memorySwap);
  }
  const cpus = number('--cpus', flags.cpus, false);
  if (cpus !== undefined) {
    if (cpus < 0) throw new UsageError(`invalid argument "${flags.cpus}" for "--cpus" flag`);
    o.cpus = cpus;
  }
  const pids = number('--pids-limit', flags.pidsLimit, true);
  if (pids !== undefined) o.pidsLimit = pids;
  if (flags.shmSize !== undefined) o.shmSize = parseSize(flags.shmSize);
  if (flags.init) o.init = true;
  if (flags.rm) o.autoRemove = true;
  if (flags.restart !== undefined && flags.restart !== 'no' && flags.restart !== '') {
    parseRestart(flags.restart);
    if (flags.rm) {
      throw new UsageError(
        'the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"',
      );
    }
    o.restart = flags.restart;
  }
  if (flags.runtime !== undefined) o.runtime = flags.runtime;
  if (flags.dns?.length) o.dns = flags.dns;
  if (flags.dnsSearch?.length) o.dnsSearch = flags.dnsSearch;
  if (flags.dnsOption?.length) o.dnsOptions = flags.dnsOption;
  if (flags.addHost?.length) o.addHosts = flags.addHost;
  return o;
}

/**
 * `--network` (default `bridge`, podman's default network), `-p`, `-P`, `--network-alias`,
 * `--ip`, as the runtime's options.
 */
export function networkOptions(flags: CreateFlags): ContainerOptions {
  const o: ContainerOptions = {};
  const network = (flags.network ?? flags.net ?? 'bridge').trim();
  if (network === '' || network === 'default') o.network = 'bridge';
  else if (network === 'private') o.network = 'bridge';
  else if (network.startsWith('container:')) {
    if (network.length === 'container:'.length) {
      throw new UsageError('--network container: needs a container name or id');
    }
    o.network = network;
  } else if (/^(slirp4netns|pasta|ns:)/.test(network)) {
    throw new UsageError(`--network ${network} is not supported yet`, {
      hint: 'skiff sets up bridge, none, host, NAME and container:ID networks',
    });
  } else {
    const names = network.split(',').map((n) => n.trim());
    if (names.some((n) => !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n))) {
      throw new UsageError(`invalid network "${network}"`);
    }
    if (names.length > 1 && names.some((n) => n === 'none' || n === 'host')) {
      throw new UsageError(
        `--network ${names.find((n) => n === 'none' || n === 'host')} cannot be combined with other networks`,
      );
    }
    o.network = names.join(',');
  }
  const bridged =
    o.network !== 'none' && o.network !== 'host' && !o.network!.startsWith('container:');
  const publish = (flags.publish ?? []).map((p) => parsePublish(p));
  // podman drops port bindings with --network host/none/container: (see warnings()).
  if (bridged && publish.length > 0) o.publish = publish;
  if (bridged && flags.publishAll) o.publishAll = true;
  if (flags.networkAlias?.length) {
    if (!bridged) throw new UsageError('--network-alias can only be used with bridge networks');
    o.networkAliases = flags.networkAlias;
  }
  if (flags.ip !== undefined) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(flags.ip)) {
      throw new UsageError(`${flags.ip} is not an ip address`);
    }
    if (!bridged) throw new UsageError('--ip can only be used with bridge networks');
    o.ip = flags.ip;
  }
  return o;
}

/** `--pull always|missing|never|newer` (podman's policy names). */
export function pullPolicy(value: string | undefined): 'always' | 'missing' | 'never' {
  const v = (value ?? 'missing').toLowerCase();
  if (v === 'always' || v === 'missing' || v === 'never') return v;
  if (v === 'newer') return 'missing';
  if (v === 'true') return 'always';
  if (v === 'false') return 'missing';
  throw new UsageError(`unsupported pull policy "${value}"`, {
    hint: 'use always, missing or never',
  });
}

/** The facts the status texts depend on. */
export interface StatusInput {
  status: ContainerStatus;
  exitCode?: number | undefined;
  startedAt?: string | undefined;
  finishedAt?: string | undefined;
}

/** podman's STATUS column: "Up 3 seconds ago", "Exited (0) 2 seconds ago", "Created". */
export function statusText(s: StatusInput, now = Date.now()): string {
  const since = (iso: string | undefined) =>
    iso ? humanDuration(Math.max(0, now - new Date(iso).getTime())) : 'Less than a second';
  switch (s.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${since(s.startedAt)} ago`;
    case 'paused':
      return 'Paused';
    default:
      if (!s.startedAt) return 'Created';
      return `Exited (${s.exitCode ?? 0}) ${since(s.finishedAt)} ago`;
  }
}

/** podman's State names: stopped and exited both read "exited" once cleaned. */
export function stateName(status: ContainerStatus): string {
  return status === 'stopped' ? 'exited' : status;
}

/** The COMMAND column: the joined args, cut at 17 characters unless --no-trunc. */
export function commandText(args: string[], noTrunc: boolean): string {
  const text = args.join(' ');
  return !noTrunc && text.length > 17 ? `${text.slice(0, 17)}...` : text;
}

/** What a `ps --filter` needs to know of a container. */
export interface FilterInput {
  id: string;
  name: string;
  imageId: string;
  imageName: string;
  labels: Record<string, string>;
  status: ContainerStatus;
  exitCode?: number | undefined;
}

const FILTER_KEYS = ['id', 'name', 'label', 'status', 'exited', 'ancestor'];
const STATUSES = ['created', 'running', 'paused', 'stopped', 'exited', 'unknown'];

/**
 * `ps --filter KEY=VALUE` as podman reads them: values of one key are ORed, different keys
 * ANDed (label filters are ANDed among themselves too).
 */
export function containerFilter(filters: string[]): (c: FilterInput) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (!FILTER_KEYS.includes(key)) {
      throw new UsageError(`${key} is an invalid filter`, {
        hint: `skiff filters containers by ${FILTER_KEYS.join(', ')}`,
      });
    }
    if (key === 'status' && !STATUSES.includes(value)) {
      throw new UsageError(`${value} is not a valid status`);
    }
    if (key === 'exited' && !/^-?\d+$/.test(value)) {
      throw new UsageError(`exited code out of range "${value}"`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), value]);
  }
  const tests: ((c: FilterInput) => boolean)[] = [];
  for (const [key, values] of byKey) {
    switch (key) {
      case 'id':
        tests.push((c) => values.some((v) => c.id.startsWith(v)));
        break;
      case 'name':
        tests.push((c) => values.some((v) => safeRegExp(v).test(c.name)));
        break;
      case 'label':
        tests.push((c) =>
          values.every((v) => {
            const eq = v.indexOf('=');
            if (eq < 0) return v in c.labels;
            return c.labels[v.slice(0, eq)] === v.slice(eq + 1);
          }),
        );
        break;
      case 'status':
        tests.push((c) => values.includes(stateName(c.status)) || values.includes(c.status));
        break;
      case 'exited':
        tests.push(
          (c) =>
            (c.status === 'exited' || c.status === 'stopped') &&
            values.some((v) => Number(v) === c.exitCode),
        );
        break;
      case 'ancestor':
        tests.push((c) =>
          values.some(
            (v) =>
              c.imageId.startsWith(v.replace(/^sha256:/, '')) ||
              c.imageName === v ||
              c.imageName.replace(/:latest$/, '').endsWith(`/${v.replace(/:latest$/, '')}`) ||
              c.imageName.endsWith(`/${v}`),
          ),
        );
        break;
    }
  }
  return (c) => tests.every((t) => t(c));
}

const ADJECTIVES = [
  'admiring',
  'awesome',
  'bold',
  'brave',
  'busy',
  'clever',
  'cool',
  'dreamy',
  'eager',
  'elastic',
  'epic',
  'festive',
  'fervent',
  'focused',
  'gallant',
  'gifted',
  'happy',
  'hopeful',
  'jolly',
  'keen',
  'kind',
  'laughing',
  'loving',
  'lucid',
  'magical',
  'modest',
  'nice',
  'nifty',
  'optimistic',
  'peaceful',
  'pensive',
  'quirky',
  'relaxed',
  'serene',
  'sharp',
  'stoic',
  'sweet',
  'tender',
  'trusting',
  'upbeat',
  'vibrant',
  'vigilant',
  'wizardly',
  'youthful',
  'zealous',
];
const SURNAMES = [
  'albattani',
  'babbage',
  'bell',
  'bohr',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euclid',
  'fermat',
  'feynman',
  'galileo',
  'gauss',
  'hopper',
  'hypatia',
  'kepler',
  'knuth',
  'lamport',
  'lovelace',
  'mccarthy',
  'meitner',
  'newton',
  'noether',
  'pascal',
  'poincare',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
  'yalow',
];

/** A name like podman's "adjective_surname" from a random source. */
export function randomName(random: () => number = Math.random): string {
  const a = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)]!;
  const s = SURNAMES[Math.floor(random() * SURNAMES.length)]!;
  return `${a}_${s}`;
}

/** `logs --since/--until`: an RFC 3339 time, a Unix timestamp or a Go duration before now. */
export function parseLogTime(flag: string, text: string, now = Date.now()): Date {
  if (/^\d+(\.\d+)?$/.test(text)) return new Date(Number(text) * 1000);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const dur = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/.test(text);
  if (dur) {
    let total = 0;
    for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
      total += Number(m[1]) * units[m[2]!]!;
    }
    return new Date(now - total);
  }
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new UsageError(`invalid value "${text}" for ${flag}`, {
      hint: 'use an RFC 3339 time, a Unix timestamp or a duration like 10m',
    });
  }
  return d;
}
