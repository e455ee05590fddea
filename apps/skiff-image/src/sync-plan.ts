// The pure half of `sync`: reading the YAML source file, choosing tags (regex, semver,
// --include-tags/--exclude-tags) and naming destinations the way skopeo sync does.
import * as posixPath from 'node:path/posix';
import { UsageError } from '@skiff/cli-kit';
import { parseReference, SkiffError } from '@skiff/oci-image';
import { parse as parseYaml } from 'yaml';

/** One registry's entry of a `--src yaml` file. Maps keep the file's order. */
export interface YamlRegistryConfig {
  /** repository -> tags or digests; an empty list means every tag. */
  images: Map<string, string[]>;
  /** repository -> regular expression the tags must match. */
  imagesByTagRegex: Map<string, string>;
  /** repository -> semantic-version constraint the tags must satisfy. */
  imagesBySemver: Map<string, string>;
  tlsVerify?: boolean;
  credentials?: { username: string; password: string };
  certDir?: string;
}

const REGISTRY_KEYS = new Set([
  'images',
  'images-by-tag-regex',
  'images-by-semver',
  'tls-verify',
  'credentials',
  'cert-dir',
]);

function yamlError(file: string, message: string): SkiffError {
  return new SkiffError('E_INVALID_SYNC_CONFIG', `${file}: ${message}`, {
    hint: 'see "man skopeo-sync" for the YAML file format',
  });
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(file: string, where: string, v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (v === undefined || v === null) return out;
  if (!isMap(v)) throw yamlError(file, `${where} must map repositories to strings`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw yamlError(file, `${where}.${k} must be a string`);
    out.set(k, val);
  }
  return out;
}

/** Parses the YAML file format of `skopeo sync --src yaml`, naming what is wrong. */
export function parseSyncYaml(text: string, file: string): Map<string, YamlRegistryConfig> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw yamlError(file, `not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return new Map();
  if (!isMap(doc)) throw yamlError(file, 'the top level must map registry names to settings');
  const out = new Map<string, YamlRegistryConfig>();
  for (const [registry, raw] of Object.entries(doc)) {
    const entry = raw ?? {};
    if (!isMap(entry))
      throw yamlError(file, `the settings of registry "${registry}" must be a map`);
    for (const key of Object.keys(entry)) {
      if (!REGISTRY_KEYS.has(key)) {
        throw yamlError(
          file,
          `unknown key "${key}" under registry "${registry}" (known: ${[...REGISTRY_KEYS].join(', ')})`,
        );
      }
    }
    const images = new Map<string, string[]>();
    const rawImages = entry.images ?? {};
    if (!isMap(rawImages))
      throw yamlError(file, `${registry}.images must map repositories to tag lists`);
    for (const [repo, tags] of Object.entries(rawImages)) {
      const list = tags ?? [];
      if (!Array.isArray(list)) {
        throw yamlError(file, `${registry}.images.${repo} must be a list of tags or digests`);
      }
      images.set(
        repo,
        list.map((t) => {
          if (typeof t !== 'string' && typeof t !== 'number') {
            throw yamlError(file, `${registry}.images.${repo} holds a value that is not a tag`);
          }
          return String(t);
        }),
      );
    }
    const cfg: YamlRegistryConfig = {
      images,
      imagesByTagRegex: stringMap(
        file,
        `${registry}.images-by-tag-regex`,
        entry['images-by-tag-regex'],
      ),
      imagesBySemver: stringMap(file, `${registry}.images-by-semver`, entry['images-by-semver']),
    };
    const tls = entry['tls-verify'];
    if (tls !== undefined && tls !== null) {
      if (typeof tls !== 'boolean')
        throw yamlError(file, `${registry}.tls-verify must be true or false`);
      cfg.tlsVerify = tls;
    }
    const creds = entry.credentials;
    if (creds !== undefined && creds !== null) {
      if (
        !isMap(creds) ||
        typeof creds.username !== 'string' ||
        typeof creds.password !== 'string'
      ) {
        throw yamlError(file, `${registry}.credentials must have a username and a password`);
      }
      cfg.credentials = { username: creds.username, password: creds.password };
    }
    const certDir = entry['cert-dir'];
    if (certDir !== undefined && certDir !== null) {
      if (typeof certDir !== 'string') throw yamlError(file, `${registry}.cert-dir must be a path`);
      cfg.certDir = certDir;
    }
    out.set(registry, cfg);
  }
  return out;
}

/** Compiles a user's regular expression, naming the flag or file entry it came from. */
export function compileRegex(source: string, where: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new UsageError(`invalid regular expression for ${where}: ${(err as Error).message}`);
  }
}

/**
 * --include-tags / --exclude-tags: a tag passes when it matches one of the include
 * expressions (or there are none) and none of the exclude ones. Unanchored, as Go's
 * MatchString; write ^...$ to match whole tags. Images named by digest carry no tag and pass.
 */
export function tagFilter(
  include: readonly string[] = [],
  exclude: readonly string[] = [],
): (tag: string | undefined) => boolean {
  const inc = include.map((r) => compileRegex(r, '--include-tags'));
  const exc = exclude.map((r) => compileRegex(r, '--exclude-tags'));
  return (tag) => {
    if (tag === undefined) return true;
    if (inc.length > 0 && !inc.some((r) => r.test(tag))) return false;
    return !exc.some((r) => r.test(tag));
  };
}

// ---- semantic versions (images-by-semver) ------------------------------------------------------

interface Version {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

const VERSION = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** A tag read as a version ("1", "v1.2", "1.2.3-rc.1"); undefined for other tags. */
export function parseVersion(tag: string): Version | undefined {
  const m = VERSION.exec(tag);
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    pre: m[4] ? m[4].split('.') : [],
  };
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return (b.length === 0 ? 0 : 1) - (a.length === 0 ? 0 : 1);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (nx !== ny) return nx ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function compareVersions(a: Version, b: Version): number {
  return (
    Math.sign(a.major - b.major) ||
    Math.sign(a.minor - b.minor) ||
    Math.sign(a.patch - b.patch) ||
    comparePre(a.pre, b.pre)
  );
}

type Test = (v: Version) => boolean;

const ANY = /^[xX*]$/;
const COMPARATOR =
  /^(>=|<=|!=|=>|=<|>|<|=|~>|~|\^)?\s*v?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?)$/;

/** One comparator such as ">= 1.2", "~1.4", "^2", "1.x" or "!=1.3.0". */
function comparator(text: string, constraint: string): { test: Test; pre: boolean } {
  const m = COMPARATOR.exec(text);
  if (!m) throw new UsageError(`unsupported semantic version constraint "${constraint}"`);
  const op = m[1] ?? '=';
  const [core, pre] = m[2]!.split(/-(.*)/s) as [string, string | undefined];
  const parts = core.split('.');
  // The number of leading parts given before a wildcard or the end: "1.2" -> 2, "1.x" -> 1.
  let given = 0;
  while (given < parts.length && !ANY.test(parts[given]!)) given++;
  const nums = [0, 1, 2].map((i) => (i < given ? Number(parts[i]) : 0));
  const base: Version = {
    major: nums[0]!,
    minor: nums[1]!,
    patch: nums[2]!,
    pre: pre ? pre.split('.') : [],
  };
  const bump = (level: number): Version => {
    const n = [base.major, base.minor, base.patch];
    n[level] = n[level]! + 1;
    for (let i = level + 1; i < 3; i++) n[i] = 0;
    return { major: n[0]!, minor: n[1]!, patch: n[2]!, pre: [] };
  };
  const cmp = (v: Version) => compareVersions(v, base);
  const range =
    (lo: Version, hi: Version | undefined): Test =>
    (v) =>
      compareVersions(v, lo) >= 0 && (hi === undefined || compareVersions(v, hi) < 0);
  let test: Test;
  switch (op) {
    case '=':
      test =
        given === 0 ? () => true : given === 3 ? (v) => cmp(v) === 0 : range(base, bump(given - 1));
      break;
    case '!=':
      test = given === 3 ? (v) => cmp(v) !== 0 : (v) => !range(base, bump(given - 1))(v);
      break;
    case '>':
      test =
        given === 3
          ? (v) => cmp(v) > 0
          : given === 0
            ? () => false
            : range(bump(given - 1), undefined);
      break;
    case '>=':
    case '=>':
      test = (v) => cmp(v) >= 0;
      break;
    case '<':
      test = (v) => cmp(v) < 0;
      break;
    case '<=':
    case '=<':
      test =
        given === 3
          ? (v) => cmp(v) <= 0
          : given === 0
            ? () => true
            : (v) => compareVersions(v, bump(given - 1)) < 0;
      break;
    case '~':
    case '~>':
      test = range(base, bump(given >= 2 ? 1 : 0));
      break;
    default: {
      // ^: changes that keep the left-most non-zero part.
      const level = base.major > 0 || given <= 1 ? 0 : base.minor > 0 || given === 2 ? 1 : 2;
      test = range(base, bump(level));
    }
  }
  return { test, pre: base.pre.length > 0 };
}

/**
 * A semantic-version constraint as images-by-semver takes it: comparators joined by "," or
 * spaces (all must hold), alternatives joined by "||". Pre-release tags match only when a
 * comparator names a pre-release. Tags that are not versions never match.
 */
export function semverMatcher(constraint: string): (tag: string) => boolean {
  const groups = constraint.split('||').map((group) => {
    const items = group
      .trim()
      .replace(/(>=|<=|!=|=>|=<|~>|[><=~^])\s+/g, '$1')
      .split(/[\s,]+/)
      .filter(Boolean);
    if (items.length === 0)
      throw new UsageError(`empty semantic version constraint "${constraint}"`);
    return items.map((c) => comparator(c, constraint));
  });
  return (tag) => {
    const v = parseVersion(tag);
    if (!v) return false;
    return groups.some(
      (g) => (v.pre.length === 0 || g.some((c) => c.pre)) && g.every((c) => c.test(v)),
    );
  };
}

// ---- destinations -----------------------------------------------------------------------------

/**
 * Where a source image goes: DESTINATION joined with the image's name. For a registry source
 * the name is "host/repo:tag" (or "@digest"); for a dir source, the image directory relative
 * to the source directory (its base name when the source is the image itself). Without
 * --scoped only the last path element is kept.
 */
export function destinationName(destination: string, suffix: string, scoped: boolean): string {
  const name = scoped ? suffix : posixPath.basename(suffix);
  return posixPath.join(destination, name);
}

/** The tag of a dir: image directory named like "busybox:1.36", if it has one. */
export function tagOfDirName(dirName: string): string | undefined {
  const base = posixPath.basename(dirName);
  if (base.includes('@')) return undefined;
  const colon = base.lastIndexOf(':');
  return colon > 0 ? base.slice(colon + 1) : undefined;
}

/** Parses a `--src docker` source: a repository (every tag) or one tagged/digested image. */
export function parseDockerSource(source: string): {
  repository: string;
  tag?: string;
  digest?: string;
} {
  const text = source.startsWith('docker://') ? source.slice('docker://'.length) : source;
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(text);
  } catch (err) {
    throw new SkiffError(
      'E_INVALID_REFERENCE',
      `cannot obtain a valid image reference for transport "docker" and reference "${source}": ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    repository: `${ref.domain}/${ref.path}`,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
  };
}
