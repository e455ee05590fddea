/** Pure parsers for the HTTP headers the registry protocol relies on. */

export interface AuthChallenge {
  /** Lower-cased scheme: "basic", "bearer", ... */
  scheme: string;
  /** Parameters with lower-cased names, values unquoted. */
  params: Record<string, string>;
  /** A token68 credential hint instead of parameters (rare). */
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*/;

/**
 * Parses one or more `WWW-Authenticate` values (RFC 9110 challenges, possibly several per
 * header, separated by commas) into challenges. Tolerates odd spacing, unquoted values,
 * escaped quotes, empty list elements and case differences; never throws.
 */
export function parseWwwAuthenticate(
  values: string | readonly string[] | undefined,
): AuthChallenge[] {
  if (values === undefined) return [];
  const list = typeof values === 'string' ? [values] : values;
  const out: AuthChallenge[] = [];
  for (const value of list) out.push(...parseOne(value));
  return out;
}

function parseOne(s: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    // at the opening quote
    i++;
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i];
      i++;
    }
    i++; // closing quote (or end)
    return v;
  };
  // Whether a `name=value` parameter starts at the current position (without consuming it).
  const paramAhead = (): boolean => {
    const save = i;
    const name = readToken();
    skipWs();
    const isParam = name.length > 0 && s[i] === '=' && s[i + 1] !== '=';
    i = save;
    if (!isParam) return false;
    // "abc=" followed by end/comma is a token68, not an empty parameter.
    const rest = s.slice(save + name.length).replace(/^[ \t]*=[ \t]*/, '');
    return !(rest.length === 0 || rest.startsWith(','));
  };

  while (i < s.length) {
    while (i < s.length && (s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    const scheme = readToken();
    if (!scheme) {
      // garbage: skip to the next comma
      while (i < s.length && s[i] !== ',') i++;
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();
    if (i < s.length && s[i] !== ',' && !paramAhead()) {
      const m = TOKEN68.exec(s.slice(i));
      if (m) {
        challenge.token68 = m[0];
        i += m[0].length;
      }
    }
    // parameters, separated by commas, until something that is not a parameter
    while (i < s.length) {
      skipWs();
      if (s[i] === ',') {
        const save = i;
        while (i < s.length && (s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
        if (!paramAhead()) {
          i = save;
          break;
        }
      }
      if (!paramAhead()) {
        // unparseable leftovers of this challenge: skip to the next comma
        if (i < s.length && s[i] !== ',') {
          while (i < s.length && s[i] !== ',') i++;
          continue;
        }
        break;
      }
      const name = readToken().toLowerCase();
      skipWs();
      i++; // '='
      skipWs();
      let value: string;
      if (s[i] === '"') value = readQuoted();
      else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
        value = s.slice(start, i);
      }
      challenge.params[name] = value;
    }
  }
  return out;
}

export interface LinkValue {
  url: string;
  params: Record<string, string>;
}

/** Parses an RFC 8288 `Link` header: `<url>; rel="next", <url2>; rel=prev`. */
export function parseLinkHeader(values: string | readonly string[] | undefined): LinkValue[] {
  if (values === undefined) return [];
  const list = typeof values === 'string' ? [values] : values;
  const out: LinkValue[] = [];
  for (const s of list) {
    let i = 0;
    while (i < s.length) {
      const open = s.indexOf('<', i);
      if (open === -1) break;
      const close = s.indexOf('>', open + 1);
      if (close === -1) break;
      const link: LinkValue = { url: s.slice(open + 1, close).trim(), params: {} };
      i = close + 1;
      // parameters up to the next comma that is outside quotes
      while (i < s.length) {
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        if (s[i] === ',') {
          i++;
          break;
        }
        if (s[i] !== ';') {
          i++;
          continue;
        }
        i++;
        while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
        const m = /^([^=;,\s]+)\s*(?:=\s*)?/.exec(s.slice(i));
        if (!m) continue;
        i += m[0].length;
        let value = '';
        if (m[0].includes('=')) {
          if (s[i] === '"') {
            i++;
            while (i < s.length && s[i] !== '"') {
              if (s[i] === '\\') i++;
              value += s[i] ?? '';
              i++;
            }
            i++;
          } else {
            const start = i;
            while (i < s.length && s[i] !== ';' && s[i] !== ',') i++;
            value = s.slice(start, i).trim();
          }
        }
        link.params[m[1]!.toLowerCase()] = value;
      }
      out.push(link);
    }
  }
  return out;
}

/** The URL of the `rel="next"` link (resolved against `base`), if any. */
export function nextLink(
  values: string | readonly string[] | undefined,
  base: string,
): string | undefined {
  for (const link of parseLinkHeader(values)) {
    const rels = (link.params.rel ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return new URL(link.url, base).toString();
  }
  return undefined;
}

/**
 * Milliseconds a `Retry-After` value asks to wait: delay-seconds or an HTTP-date.
 * Undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/** A header's single value from undici's `string | string[] | undefined`. */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
