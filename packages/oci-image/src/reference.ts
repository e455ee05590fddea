import { invalidDigestReason } from './digest.js';
import { ErrorCode, SkiffError } from './errors.js';

/**
 * An image reference in Docker's grammar, normalized: `alpine` is domain "docker.io", path
 * "library/alpine". `tag` and `digest` are as written (both may be present).
 */
export interface Reference {
  domain: string;
  path: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

export const DefaultDomain = 'docker.io';
export const DefaultTag = 'latest';
/** The longest repository name (domain and path) Docker accepts. */
export const MaxNameLength = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;

function invalid(message: string, hint?: string): SkiffError {
  return new SkiffError(ErrorCode.InvalidReference, message, hint ? { hint } : {});
}

function quote(s: string): string {
  return JSON.stringify(s.length > 300 ? `${s.slice(0, 300)}...` : s);
}

/** Splits "name" into domain and remainder the way Docker does (no domain -> undefined). */
function splitDomain(name: string): { domain: string | undefined; remainder: string } {
  const i = name.indexOf('/');
  if (i === -1) return { domain: undefined, remainder: name };
  const first = name.slice(0, i);
  // A first component is a domain when it has a "." or ":", is "localhost", or has capitals
  // (repository paths are lowercase, so "Registry/x" can only mean a host).
  if (
    first.includes('.') ||
    first.includes(':') ||
    first === 'localhost' ||
    first !== first.toLowerCase()
  ) {
    return { domain: first, remainder: name.slice(i + 1) };
  }
  return { domain: undefined, remainder: name };
}

/** Splits "name[:tag][@digest]" without validating the parts. */
function splitReference(s: string): { name: string; tag?: string; digest?: string } {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && colon > rest.lastIndexOf('/') && !rest.slice(colon).includes(']')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const out: { name: string; tag?: string; digest?: string } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * Parses an image reference in Docker's full grammar: [domain[:port]/]path[:tag][@digest],
 * domains including IPv6 hosts in brackets. The result is normalized: no domain means
 * docker.io, a single docker.io path component gets "library/", and index.docker.io is
 * docker.io. No tag is added (see normalizeReference). Errors (E_INVALID_REFERENCE) say which
 * part is invalid.
 */
export function parseReference(s: string): Reference {
  if (typeof s !== 'string' || s.length === 0) throw invalid('invalid reference: it is empty');
  if (IMAGE_ID.test(s)) {
    throw invalid(
      `invalid repository name ${quote(s)}: 64-character hexadecimal strings are image IDs, not names`,
    );
  }
  if (s.indexOf('@') !== s.lastIndexOf('@')) {
    throw invalid(`invalid reference ${quote(s)}: more than one "@"`);
  }
  const parts = splitReference(s);
  if (parts.name === '')
    throw invalid(`invalid reference ${quote(s)}: the repository name is empty`);
  const { domain: rawDomain, remainder } = splitDomain(parts.name);
  let domain = rawDomain ?? DefaultDomain;
  if (rawDomain !== undefined && !DOMAIN.test(rawDomain)) {
    throw invalid(
      `invalid domain ${quote(rawDomain)} in reference ${quote(s)}: expected a host name, IPv4 address or [IPv6] address with an optional :port`,
    );
  }
  if (domain === 'index.docker.io') domain = DefaultDomain;
  if (remainder === '') {
    throw invalid(
      `invalid reference ${quote(s)}: the repository path after ${quote(domain)} is empty`,
    );
  }
  if (remainder !== remainder.toLowerCase()) {
    throw invalid(`invalid reference ${quote(s)}: repository name must be lowercase`);
  }
  for (const component of remainder.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        component === ''
          ? `invalid reference ${quote(s)}: the repository path has an empty component`
          : `invalid path component ${quote(component)} in reference ${quote(s)}: path components are lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  let path = remainder;
  if (domain === DefaultDomain && !path.includes('/')) path = `library/${path}`;
  const fullName = `${domain}/${path}`;
  if (fullName.length > MaxNameLength) {
    throw invalid(
      `invalid reference ${quote(s)}: repository name must not be more than ${MaxNameLength} characters (it is ${fullName.length})`,
    );
  }
  const ref: Reference = { domain, path };
  if (parts.tag !== undefined) {
    if (!TAG.test(parts.tag)) {
      throw invalid(
        `invalid tag ${quote(parts.tag)} in reference ${quote(s)}: a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
      );
    }
    ref.tag = parts.tag;
  }
  if (parts.digest !== undefined) {
    const problem = invalidDigestReason(parts.digest);
    if (problem !== undefined) {
      throw invalid(`invalid digest ${quote(parts.digest)} in reference ${quote(s)}: ${problem}`);
    }
    ref.digest = parts.digest;
  }
  return ref;
}

/** Whether `s` parses as a reference. */
export function isReference(s: string): boolean {
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the user wrote no registry domain (`alpine`, `library/alpine:3`): such short names
 * are resolved through registries.conf.
 */
export function isShortName(s: string): boolean {
  return splitDomain(splitReference(s).name).domain === undefined;
}

/** A parsed reference with ":latest" added when it has neither tag nor digest. */
export function normalizeReference(s: string | Reference): Reference {
  const ref = typeof s === 'string' ? parseReference(s) : { ...s };
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DefaultTag;
  return ref;
}

/** "domain/path", the repository a reference names. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full form: "docker.io/library/alpine:latest", "[::1]:5000/x@sha256:...". */
export function formatReference(ref: Reference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * The short form Docker shows: "docker.io/library/alpine:latest" -> "alpine:latest",
 * "docker.io/user/app" -> "user/app"; other registries keep their domain. Parsing the
 * result gives back the same reference.
 */
export function familiarName(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  let name = repositoryName(r);
  if (r.domain === DefaultDomain) {
    let path = r.path;
    const rest = path.startsWith('library/') ? path.slice('library/'.length) : undefined;
    if (rest !== undefined && !rest.includes('/')) path = rest;
    // Keep the domain when the path would otherwise read as a registry host.
    const first = path.split('/')[0]!;
    if (!(path.includes('/') && (first.includes('.') || first === 'localhost'))) name = path;
  }
  if (r.tag !== undefined) name += `:${r.tag}`;
  if (r.digest !== undefined) name += `@${r.digest}`;
  return name;
}

/**
 * Parses "name[:tag]" as `tag`/`save`/archive RepoTags use it: the normalized repository and
 * the tag ("latest" when none). A digest is refused: these places need a tag.
 */
export function parseRepositoryAndTag(s: string): { repository: string; tag: string } {
  const ref = parseReference(s);
  if (ref.digest !== undefined) {
    throw invalid(`invalid reference ${quote(s)}: expected name[:tag], not a digest reference`);
  }
  return { repository: repositoryName(ref), tag: ref.tag ?? DefaultTag };
}
