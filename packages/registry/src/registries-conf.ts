import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { parseReference, SkiffError } from '@skiff/oci-image';
import { parse as parseToml } from 'smol-toml';
import { RegistryErrorCode } from './errors.js';

/** containers-registries.conf(5), version 2 (version 1 tables are converted). */

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface RegistryMirror {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  /** What references it applies to: "host/ns" or a wildcard "*.example.com". */
  prefix: string;
  /** Where those references actually live ("" keeps them unchanged, for wildcards). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: RegistryMirror[];
}

export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  shortNameMode: ShortNameMode;
  /** Short name (no tag) -> fully-qualified name (no tag). */
  aliases: Record<string, string>;
  registries: RegistryEntry[];
  credentialHelpers: string[];
  /** The files read, in the order applied. */
  files: string[];
}

/** One file's settings; absent fields leave earlier files' values alone when merged. */
export interface RegistriesConfFile {
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
  aliases?: Record<string, string>;
  registries?: RegistryEntry[];
  credentialHelpers?: string[];
}

export function emptyRegistriesConf(): RegistriesConf {
  return {
    unqualifiedSearchRegistries: [],
    shortNameMode: 'enforcing',
    aliases: {},
    registries: [],
    credentialHelpers: ['containers-auth.json'],
    files: [],
  };
}

function invalid(path: string, message: string): SkiffError {
  return new SkiffError(RegistryErrorCode.InvalidConfig, `${path}: ${message}`, {
    hint: 'see containers-registries.conf(5)',
  });
}

function stringList(v: unknown, path: string, field: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw invalid(path, `"${field}" must be an array of strings`);
  }
  return v as string[];
}

function bool(v: unknown, path: string, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalid(path, `"${field}" must be true or false`);
  return v;
}

/** Strips a scheme and trailing slashes, as containers/image does for locations and prefixes. */
function cleanLocation(s: string): string {
  return s
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '');
}

export function isWildcardPrefix(prefix: string): boolean {
  return prefix.startsWith('*.');
}

/** Whether a reference's first component is a registry host (has ".", ":" or is localhost). */
export function isQualifiedName(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash === -1) return false;
  const first = name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** Parses the text of one registries.conf (or drop-in) file. */
export function parseRegistriesConf(text: string, path = 'registries.conf'): RegistriesConfFile {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw invalid(path, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: RegistriesConfFile = {};
  const v1 = doc.registries;
  const hasV2 =
    'unqualified-search-registries' in doc || Array.isArray(doc.registry) || 'aliases' in doc;
  if (v1 !== undefined && typeof v1 === 'object' && !Array.isArray(v1)) {
    if (hasV2)
      throw invalid(path, 'mixes the version 1 [registries.*] tables with version 2 settings');
    const t = v1 as Record<string, { registries?: unknown }>;
    const list = (k: string) =>
      t[k]?.registries === undefined
        ? []
        : stringList(t[k]?.registries, path, `registries.${k}.registries`);
    out.unqualifiedSearchRegistries = list('search').map(cleanLocation);
    const entries = new Map<string, RegistryEntry>();
    const entry = (loc: string) => {
      const l = cleanLocation(loc);
      let e = entries.get(l);
      if (!e) {
        e = {
          prefix: l,
          location: l,
          insecure: false,
          blocked: false,
          mirrorByDigestOnly: false,
          mirrors: [],
        };
        entries.set(l, e);
      }
      return e;
    };
    for (const loc of list('insecure')) entry(loc).insecure = true;
    for (const loc of list('block')) entry(loc).blocked = true;
    out.registries = [...entries.values()];
    return out;
  }
  if (doc['unqualified-search-registries'] !== undefined) {
    out.unqualifiedSearchRegistries = stringList(
      doc['unqualified-search-registries'],
      path,
      'unqualified-search-registries',
    ).map(cleanLocation);
  }
  if (doc['credential-helpers'] !== undefined) {
    out.credentialHelpers = stringList(doc['credential-helpers'], path, 'credential-helpers');
  }
  const mode = doc['short-name-mode'];
  if (mode !== undefined && mode !== '') {
    if (mode !== 'enforcing' && mode !== 'permissive' && mode !== 'disabled') {
      throw invalid(
        path,
        `short-name-mode must be "enforcing", "permissive" or "disabled", not ${JSON.stringify(mode)}`,
      );
    }
    out.shortNameMode = mode;
  }
  if (doc.aliases !== undefined) {
    if (typeof doc.aliases !== 'object' || doc.aliases === null || Array.isArray(doc.aliases)) {
      throw invalid(path, '[aliases] must be a table');
    }
    out.aliases = {};
    for (const [name, value] of Object.entries(doc.aliases as Record<string, unknown>)) {
      if (typeof value !== 'string') throw invalid(path, `alias "${name}" must be a string`);
      if (isQualifiedName(name))
        throw invalid(path, `alias "${name}" must be a short name, not a fully-qualified one`);
      if (/[:@]/.test(name.split('/').at(-1)!))
        throw invalid(path, `alias "${name}" must not have a tag or digest`);
      // An empty value removes an alias that an earlier file set.
      if (value !== '' && !isQualifiedName(value)) {
        throw invalid(path, `alias "${name}" must point to a fully-qualified name, not "${value}"`);
      }
      out.aliases[name] = value;
    }
  }
  if (doc.registry !== undefined) {
    if (!Array.isArray(doc.registry))
      throw invalid(path, '[[registry]] must be an array of tables');
    out.registries = (doc.registry as Record<string, unknown>[]).map((r, i) => {
      const field = (k: string) => `registry[${i}].${k}`;
      const location = r.location === undefined ? '' : String(r.location);
      const prefixRaw = r.prefix === undefined ? '' : String(r.prefix);
      const prefix = cleanLocation(prefixRaw || location);
      if (!prefix)
        throw invalid(path, `[[registry]] number ${i + 1} has neither prefix nor location`);
      if (isWildcardPrefix(prefix) && (prefix.includes('/') || prefix.slice(2).includes('*'))) {
        throw invalid(path, `wildcard prefix "${prefix}" must have the form *.example.com`);
      }
      if (isWildcardPrefix(prefix) && location && cleanLocation(location) !== prefix) {
        throw invalid(path, `registry with wildcard prefix "${prefix}" can not have a location`);
      }
      const mirrorByDigestOnly = bool(
        r['mirror-by-digest-only'],
        path,
        field('mirror-by-digest-only'),
      );
      const mirrorsRaw = r.mirror === undefined ? [] : r.mirror;
      if (!Array.isArray(mirrorsRaw))
        throw invalid(path, `${field('mirror')} must be an array of tables`);
      const mirrors = (mirrorsRaw as Record<string, unknown>[]).map((m, j) => {
        if (typeof m.location !== 'string' || !m.location)
          throw invalid(path, `${field(`mirror[${j}]`)} needs a location`);
        const pfm = m['pull-from-mirror'] ?? 'all';
        if (pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only') {
          throw invalid(
            path,
            `pull-from-mirror must be "all", "digest-only" or "tag-only", not ${JSON.stringify(pfm)}`,
          );
        }
        if (mirrorByDigestOnly && pfm !== 'all' && pfm !== 'digest-only') {
          throw invalid(
            path,
            `mirror-by-digest-only = true conflicts with pull-from-mirror = "${pfm}"`,
          );
        }
        return {
          location: cleanLocation(m.location),
          insecure: bool(m.insecure, path, field(`mirror[${j}].insecure`)),
          pullFromMirror: (mirrorByDigestOnly ? 'digest-only' : pfm) as PullFromMirror,
        };
      });
      return {
        prefix,
        location: isWildcardPrefix(prefix) ? '' : cleanLocation(location || prefix),
        insecure: bool(r.insecure, path, field('insecure')),
        blocked: bool(r.blocked, path, field('blocked')),
        mirrorByDigestOnly,
        mirrors,
      };
    });
  }
  return out;
}

/** Applies `file` on top of `conf` the way drop-ins override the main file. */
export function mergeRegistriesConf(
  conf: RegistriesConf,
  file: RegistriesConfFile,
  path?: string,
): RegistriesConf {
  const out: RegistriesConf = {
    ...conf,
    aliases: { ...conf.aliases },
    registries: [...conf.registries],
    files: path ? [...conf.files, path] : conf.files,
  };
  if (file.unqualifiedSearchRegistries)
    out.unqualifiedSearchRegistries = file.unqualifiedSearchRegistries;
  if (file.shortNameMode) out.shortNameMode = file.shortNameMode;
  if (file.credentialHelpers) out.credentialHelpers = file.credentialHelpers;
  for (const [k, v] of Object.entries(file.aliases ?? {})) {
    if (v === '') delete out.aliases[k];
    else out.aliases[k] = v;
  }
  for (const entry of file.registries ?? []) {
    const i = out.registries.findIndex((r) => r.prefix === entry.prefix);
    if (i === -1) out.registries.push(entry);
    else out.registries[i] = entry;
  }
  return out;
}

export interface LoadRegistriesConfOptions {
  env?: NodeJS.ProcessEnv;
  /** The system file (default /etc/containers/registries.conf). */
  systemPath?: string;
  /** The system drop-in directory (default /etc/containers/registries.conf.d). */
  systemDropInDir?: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function confFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.conf')).map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/**
 * Loads registries.conf as podman does: `CONTAINERS_REGISTRIES_CONF`, else the user's
 * `~/.config/containers/registries.conf` when it exists (then only the user's drop-ins), else
 * `/etc/containers/registries.conf`; then `*.conf` drop-ins sorted by name (a user drop-in
 * replaces a system one of the same name). Missing files mean defaults.
 */
export async function loadRegistriesConf(
  opts: LoadRegistriesConfOptions = {},
): Promise<RegistriesConf> {
  const env = opts.env ?? process.env;
  const home = env.HOME || homedir();
  const userDir = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers');
  const userFile = join(userDir, 'registries.conf');
  const userDropIns = join(userDir, 'registries.conf.d');
  const systemFile = opts.systemPath ?? '/etc/containers/registries.conf';
  const systemDropIns = opts.systemDropInDir ?? '/etc/containers/registries.conf.d';

  let main: string;
  let dropInDirs: string[];
  if (env.CONTAINERS_REGISTRIES_CONF) {
    main = env.CONTAINERS_REGISTRIES_CONF;
    dropInDirs = [systemDropIns, userDropIns];
  } else if (await exists(userFile)) {
    main = userFile;
    dropInDirs = [userDropIns];
  } else {
    main = systemFile;
    dropInDirs = [systemDropIns, userDropIns];
  }
  const byName = new Map<string, string>();
  for (const dir of dropInDirs) for (const f of await confFiles(dir)) byName.set(basename(f), f);
  const files = [main, ...[...byName.keys()].sort().map((n) => byName.get(n)!)];

  let conf = emptyRegistriesConf();
  for (const path of files) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw invalid(path, (err as Error).message);
    }
    conf = mergeRegistriesConf(conf, parseRegistriesConf(text, path), path);
  }
  return conf;
}

// ---- resolution ------------------------------------------------------------------------------

function matchesPrefix(ref: string, prefix: string): boolean {
  if (!ref.startsWith(prefix)) return false;
  if (ref.length === prefix.length) return true;
  const next = ref[prefix.length];
  return next === '/' || next === ':' || next === '@';
}

/** The registry entry that applies to a fully-qualified reference: longest prefix, then wildcards. */
export function findRegistry(conf: RegistriesConf, ref: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const r of conf.registries) {
    if (isWildcardPrefix(r.prefix)) continue;
    if (matchesPrefix(ref, r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  if (best) return best;
  const host = ref.split('/')[0]!;
  for (const r of conf.registries) {
    if (!isWildcardPrefix(r.prefix)) continue;
    if (host.endsWith(r.prefix.slice(1)) && (!best || r.prefix.length > best.prefix.length))
      best = r;
  }
  return best;
}

export interface Endpoint {
  /** The full reference to use at this endpoint ("host/repo:tag" or "host/repo@digest"). */
  reference: string;
  /** "host[:port]" to connect to. */
  registry: string;
  /** The repository path at that registry. */
  repository: string;
  /** Tag or digest ("latest" when the reference had neither). */
  ref: string;
  insecure: boolean;
  mirror: boolean;
}

function endpoint(reference: string, insecure: boolean, mirror: boolean): Endpoint {
  const { domain, path, tag, digest } = parseReference(reference);
  return {
    reference,
    registry: domain,
    repository: path,
    ref: digest ?? tag ?? 'latest',
    insecure,
    mirror,
  };
}

/**
 * The endpoints to try, in order, for pulling a fully-qualified reference: usable mirrors
 * (per pull-from-mirror), then the (possibly remapped) primary location. Throws
 * E_REGISTRY_BLOCKED for a blocked registry. Pure.
 */
export function resolvePullEndpoints(conf: RegistriesConf, reference: string): Endpoint[] {
  const entry = findRegistry(conf, reference);
  if (!entry) return [endpoint(reference, false, false)];
  if (entry.blocked) {
    throw new SkiffError(
      RegistryErrorCode.Blocked,
      `registry ${entry.prefix} is blocked in registries.conf`,
      {
        hint: `reference ${reference} matches a [[registry]] with blocked = true`,
      },
    );
  }
  const { digest, tag } = parseReference(reference);
  const rest = isWildcardPrefix(entry.prefix) ? reference : reference.slice(entry.prefix.length);
  const rewrite = (location: string) =>
    isWildcardPrefix(entry.prefix) ? reference : `${location}${rest}`;
  const out: Endpoint[] = [];
  for (const m of entry.mirrors) {
    if (m.pullFromMirror === 'digest-only' && !digest) continue;
    if (m.pullFromMirror === 'tag-only' && (digest || !tag)) continue;
    out.push(
      endpoint(
        isWildcardPrefix(entry.prefix)
          ? `${m.location}/${reference.split('/').slice(1).join('/')}`
          : `${m.location}${rest}`,
        m.insecure,
        true,
      ),
    );
  }
  out.push(endpoint(rewrite(entry.location), entry.insecure, false));
  return out;
}

/** Where a push of `reference` goes: the remapped location, never a mirror. */
export function resolvePushEndpoint(conf: RegistriesConf, reference: string): Endpoint {
  return resolvePullEndpoints(
    { ...conf, registries: conf.registries.map((r) => ({ ...r, mirrors: [] })) },
    reference,
  )[0]!;
}

/** Whether a registry host is marked insecure (plain http / unverified TLS allowed). */
export function isInsecureRegistry(conf: RegistriesConf, host: string): boolean {
  const entry = findRegistry(conf, host);
  return entry?.insecure ?? false;
}

export interface ShortNameResolution {
  /** How the candidates came about. */
  kind: 'qualified' | 'alias' | 'search';
  /** Fully-qualified references to try, in order. */
  candidates: string[];
  /** The alias file entry used, for messages. */
  alias?: string;
}

/**
 * Resolves a possibly-short image name ("busybox", "library/busybox:1.36") to fully-qualified
 * candidates: unchanged when already qualified, the `[aliases]` entry when there is one, else
 * each of `unqualified-search-registries` (docker.io adds "library/" to one-part names). In
 * "enforcing" mode more than one candidate is an error unless `interactive` (the caller asks).
 */
export function resolveShortName(
  name: string,
  conf: RegistriesConf,
  opts: { interactive?: boolean } = {},
): ShortNameResolution {
  const { tag, digest } = parseReference(name);
  // The name as written, without its tag and digest (parseReference would add docker.io/library).
  const bare = name.slice(
    0,
    name.length -
      (digest === undefined ? 0 : digest.length + 1) -
      (tag === undefined ? 0 : tag.length + 1),
  );
  const suffix =
    `${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}` || ':latest';
  if (isQualifiedName(bare)) return { kind: 'qualified', candidates: [`${bare}${suffix}`] };
  const alias =
    conf.aliases[bare] ??
    (bare.startsWith('library/') ? undefined : conf.aliases[`library/${bare}`]);
  if (alias) return { kind: 'alias', candidates: [`${alias}${suffix}`], alias: bare };
  if (conf.unqualifiedSearchRegistries.length === 0) {
    throw new SkiffError(
      RegistryErrorCode.ShortName,
      `short-name "${name}" did not resolve to an alias and no unqualified-search registries are defined in registries.conf`,
      {
        hint: 'use a fully-qualified name such as docker.io/library/NAME, or set unqualified-search-registries',
      },
    );
  }
  const candidates = conf.unqualifiedSearchRegistries.map((reg) =>
    reg === 'docker.io' && !bare.includes('/')
      ? `docker.io/library/${bare}${suffix}`
      : `${reg}/${bare}${suffix}`,
  );
  if (conf.shortNameMode === 'enforcing' && candidates.length > 1 && !opts.interactive) {
    throw new SkiffError(
      RegistryErrorCode.ShortName,
      `short-name "${name}" is ambiguous: it could be ${candidates.join(', ')} (short-name-mode is "enforcing")`,
      {
        hint: 'use a fully-qualified name, add an [aliases] entry, or set short-name-mode = "permissive"',
      },
    );
  }
  return { kind: 'search', candidates };
}
