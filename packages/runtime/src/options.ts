import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';
import type { MountRequest, Ulimit } from './types.js';

function invalid(message: string): SkiffError {
  return new SkiffError(RuntimeErrorCode.InvalidOption, message);
}

/** `--memory`/`--shm-size` sizes: 512, 64k, 256m, 1g (binary units, as podman). */
export function parseSize(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw invalid(`invalid size: ${text}`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    (m[2] ?? '').toLowerCase()
  ]!;
  return Math.round(Number(m[1]) * unit);
}

/** `--ulimit name=soft[:hard]` (-1 = unlimited). */
export function parseUlimit(text: string): Ulimit {
  const m = /^([a-z]+)=(-?[0-9]+)(?::(-?[0-9]+))?$/.exec(text.trim());
  if (!m) throw invalid(`invalid ulimit: ${text} (want name=soft[:hard])`);
  const known = [
    'core',
    'cpu',
    'data',
    'fsize',
    'locks',
    'memlock',
    'msgqueue',
    'nice',
    'nofile',
    'nproc',
    'rss',
    'rtprio',
    'rttime',
    'sigpending',
    'stack',
    'as',
  ];
  if (!known.includes(m[1]!)) throw invalid(`invalid ulimit type: ${m[1]}`);
  const v = (s: string) => (s === '-1' ? Number.MAX_SAFE_INTEGER : Number(s));
  const soft = v(m[2]!);
  const hard = m[3] === undefined ? soft : v(m[3]);
  if (soft > hard) throw invalid(`ulimit ${m[1]}: soft limit ${soft} exceeds hard limit ${hard}`);
  return { name: m[1]!, soft, hard };
}

const BIND_OPTIONS = /^(r?(shared|slave|private|unbindable)|nosuid|suid|nodev|dev|noexec|exec)$/;

/**
 * `-v SRC:DST[:OPTS]`: SRC an absolute host path (a bind) or a volume name (created on first
 * use); `-v /path` alone is an anonymous volume.
 */
export function parseVolume(text: string): MountRequest {
  const parts = text.split(':');
  if (parts.length === 1 && text.startsWith('/')) {
    return { type: 'volume', destination: text, options: [] };
  }
  if (parts.length < 2 || parts.length > 3) {
    throw invalid(`invalid volume specification: ${text} (want SOURCE:/container/path[:opts])`);
  }
  const [source = '', destination = '', opts = ''] = parts;
  if (!source.startsWith('/')) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
      throw invalid(`invalid volume name ${source} in ${text} (or give an absolute host path)`);
    }
    if (!destination.startsWith('/')) throw invalid(`container path must be absolute: ${text}`);
    const req: MountRequest = { type: 'volume', source, destination, options: [] };
    for (const o of opts.split(',').filter((x) => x !== '')) {
      if (o === 'ro') req.readonly = true;
      else if (o === 'rw' || o === 'z' || o === 'Z') continue;
      else if (BIND_OPTIONS.test(o)) req.options!.push(o);
      else throw invalid(`invalid volume option ${o} in ${text}`);
    }
    return req;
  }
  if (!destination.startsWith('/')) throw invalid(`container path must be absolute: ${text}`);
  const req: MountRequest = { type: 'bind', source, destination, options: [] };
  for (const o of opts.split(',').filter((x) => x !== '')) {
    if (o === 'ro') req.readonly = true;
    else if (o === 'rw' || o === 'z' || o === 'Z') continue;
    else if (BIND_OPTIONS.test(o) || o === 'bind' || o === 'rbind') req.options!.push(o);
    else throw invalid(`invalid volume option ${o} in ${text}`);
  }
  return req;
}

/** `--tmpfs /path[:opts]`. */
export function parseTmpfs(text: string): MountRequest {
  const i = text.indexOf(':');
  const destination = i < 0 ? text : text.slice(0, i);
  if (!destination.startsWith('/')) throw invalid(`tmpfs path must be absolute: ${text}`);
  const opts =
    i < 0
      ? []
      : text
          .slice(i + 1)
          .split(',')
          .filter(Boolean);
  return {
    type: 'tmpfs',
    destination,
    readonly: opts.includes('ro'),
    options: opts.length > 0 ? opts.filter((o) => o !== 'ro') : [],
  };
}

/** `--mount type=bind|tmpfs,source=,target=,ro` (key aliases as podman: src, dst, destination, readonly). */
export function parseMount(text: string): MountRequest {
  const fields = new Map<string, string>();
  for (const kv of text.split(',')) {
    const eq = kv.indexOf('=');
    fields.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? 'true' : kv.slice(eq + 1));
  }
  const type = fields.get('type') ?? 'volume';
  const destination = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  if (!destination?.startsWith('/'))
    throw invalid(`--mount ${text}: an absolute target is required`);
  const ro = fields.get('ro') ?? fields.get('readonly');
  const readonly = ro === 'true' || ro === '1';
  if (type === 'bind') {
    const source = fields.get('source') ?? fields.get('src');
    if (!source?.startsWith('/')) throw invalid(`--mount ${text}: an absolute source is required`);
    const options: string[] = [];
    const prop = fields.get('bind-propagation');
    if (prop) options.push(prop);
    return { type, source, destination, readonly, options };
  }
  if (type === 'tmpfs') {
    const options: string[] = [];
    const size = fields.get('tmpfs-size');
    const mode = fields.get('tmpfs-mode');
    if (size) options.push(`size=${size}`);
    if (mode) options.push(`mode=${mode}`);
    return { type, destination, readonly, options };
  }
  if (type === 'volume') {
    const source = fields.get('source') ?? fields.get('src');
    if (source !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
      throw invalid(`--mount ${text}: invalid volume name ${source}`);
    }
    return { type, ...(source ? { source } : {}), destination, readonly, options: [] };
  }
  throw invalid(`--mount type=${type} is not supported yet (bind, tmpfs and volume are)`);
}

/** `--env-file` contents: KEY=VALUE lines, # comments, a bare KEY taken from `hostEnv`. */
export function parseEnvFile(text: string, hostEnv: NodeJS.ProcessEnv = {}): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    out.push(...resolveEnvArg(line.trimStart(), hostEnv));
  }
  return out;
}

/** One `-e` argument: `KEY=VALUE`, or `KEY` taken from `hostEnv` (dropped when unset). */
export function resolveEnvArg(arg: string, hostEnv: NodeJS.ProcessEnv = {}): string[] {
  if (arg.includes('=')) return [arg];
  const v = hostEnv[arg];
  return v === undefined ? [] : [`${arg}=${v}`];
}

/** `--entrypoint` text: a JSON array, or one program; `''` clears the image's. */
export function parseEntrypoint(text: string): string[] {
  if (text.trim().startsWith('[')) {
    try {
      const a = JSON.parse(text);
      if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a;
    } catch {
      // fall through: a program name that starts with "["
    }
  }
  return [text];
}

/** `--restart no|always|unless-stopped|on-failure[:N]`. */
export function parseRestart(text: string): { policy: string; maxRetries: number } {
  const m = /^(no|always|unless-stopped|on-failure)(?::([0-9]+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw invalid(`invalid restart policy ${text}`);
  }
  return { policy: m[1]!, maxRetries: m[2] === undefined ? 0 : Number(m[2]) };
}

const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
};

/** A signal name (TERM, SIGTERM, sigterm) or number to its number. */
export function parseSignal(text: string | number): number {
  if (typeof text === 'number') return text;
  const t = text.trim().toUpperCase();
  if (/^[0-9]+$/.test(t) && Number(t) > 0 && Number(t) < 65) return Number(t);
  const name = t.startsWith('SIG') ? t.slice(3) : t;
  const rt = /^RTMIN(?:\+([0-9]+))?$/.exec(name);
  if (rt) return 34 + Number(rt[1] ?? 0);
  const n = SIGNALS[name];
  if (n === undefined) throw invalid(`invalid signal: ${text}`);
  return n;
}
