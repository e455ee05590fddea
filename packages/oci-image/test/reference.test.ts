import {
  ErrorCode,
  familiarName,
  formatReference,
  isReference,
  isShortName,
  isSkiffError,
  normalizeReference,
  parseReference,
  parseRepositoryAndTag,
  type Reference,
} from '@skiff/oci-image';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

function invalid(s: string): string {
  try {
    parseReference(s);
  } catch (err) {
    expect(isSkiffError(err, ErrorCode.InvalidReference)).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(s)} to be refused`);
}

describe('parseReference', () => {
  it.each<[string, Reference]>([
    ['alpine', { domain: 'docker.io', path: 'library/alpine' }],
    ['alpine:3.20', { domain: 'docker.io', path: 'library/alpine', tag: '3.20' }],
    ['library/alpine', { domain: 'docker.io', path: 'library/alpine' }],
    ['user/app', { domain: 'docker.io', path: 'user/app' }],
    ['index.docker.io/alpine', { domain: 'docker.io', path: 'library/alpine' }],
    [
      'docker.io/library/alpine:latest',
      { domain: 'docker.io', path: 'library/alpine', tag: 'latest' },
    ],
    ['localhost/app', { domain: 'localhost', path: 'app' }],
    ['localhost:5000/x', { domain: 'localhost:5000', path: 'x' }],
    ['quay.io/podman/stable:v5', { domain: 'quay.io', path: 'podman/stable', tag: 'v5' }],
    ['127.0.0.1:5000/a/b/c', { domain: '127.0.0.1:5000', path: 'a/b/c' }],
    ['[::1]:5000/app:1', { domain: '[::1]:5000', path: 'app', tag: '1' }],
    ['[2001:db8::1]/app', { domain: '[2001:db8::1]', path: 'app' }],
    ['Registry.Example.com/app', { domain: 'Registry.Example.com', path: 'app' }],
    [
      'my-registry.local/a.b_c__d-e---f/g',
      { domain: 'my-registry.local', path: 'a.b_c__d-e---f/g' },
    ],
    [`alpine@${D}`, { domain: 'docker.io', path: 'library/alpine', digest: D }],
    [`r.io/app:v1@${D}`, { domain: 'r.io', path: 'app', tag: 'v1', digest: D }],
  ])('%s', (s, want) => {
    expect(parseReference(s)).toEqual(want);
  });

  it('names an invalid tag', () => {
    expect(invalid('alpine:Bad Tag!')).toBe(
      'invalid tag "Bad Tag!" in reference "alpine:Bad Tag!": a tag is 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"',
    );
    expect(invalid('alpine:.hidden')).toMatch(/^invalid tag "\.hidden"/);
    expect(invalid(`alpine:${'a'.repeat(129)}`)).toMatch(/^invalid tag/);
    expect(invalid('alpine:')).toMatch(/^invalid tag ""/);
  });

  it('says repository names must be lowercase', () => {
    expect(invalid('Alpine')).toContain('repository name must be lowercase');
    expect(invalid('quay.io/Podman/stable')).toContain('repository name must be lowercase');
  });

  it('names an invalid path component', () => {
    expect(invalid('quay.io/a/-b')).toMatch(/^invalid path component "-b"/);
    expect(invalid('a..b')).toMatch(/^invalid path component "a..b"/);
    expect(invalid('a___b')).toMatch(/^invalid path component/);
    expect(invalid('a//b')).toMatch(/empty component/);
    expect(invalid('quay.io/app/')).toMatch(/empty component/);
  });

  it('names an invalid domain', () => {
    expect(invalid('-bad.io/app')).toMatch(/^invalid domain "-bad.io"/);
    expect(invalid('host.io:port/app')).toMatch(/^invalid domain "host.io:port"/);
    expect(invalid('[zz::1]/app')).toMatch(/^invalid domain/);
  });

  it('names an invalid digest', () => {
    expect(invalid('alpine@sha256:abc')).toMatch(
      /^invalid digest "sha256:abc" in reference .*64 hex/,
    );
    expect(invalid(`alpine@${D}@${D}`)).toMatch(/more than one "@"/);
  });

  it('refuses empty references, empty names and image IDs', () => {
    expect(invalid('')).toMatch(/empty/);
    expect(invalid(':tag')).toMatch(/repository name is empty/);
    expect(invalid('quay.io/')).toMatch(/path .* is empty/);
    expect(invalid('0123456789abcdef'.repeat(4))).toMatch(/image IDs/);
  });

  it('limits the name to 255 characters', () => {
    const path = `${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(44)}`;
    expect(parseReference(`r.io/${path}`).path).toBe(path); // 5 + 245 = 250
    expect(invalid(`r.io/${path}cccccc`)).toMatch(/not be more than 255 characters/);
    // The implied docker.io/library/ counts too.
    expect(invalid('a'.repeat(240))).toMatch(/255/);
  });
});

describe('normalizeReference / formatReference / familiarName', () => {
  it('adds :latest only when there is neither tag nor digest', () => {
    expect(formatReference(normalizeReference('alpine'))).toBe('docker.io/library/alpine:latest');
    expect(formatReference(normalizeReference(`alpine@${D}`))).toBe(
      `docker.io/library/alpine@${D}`,
    );
    expect(formatReference(normalizeReference('localhost:5000/x'))).toBe('localhost:5000/x:latest');
  });

  it.each([
    ['docker.io/library/alpine:latest', 'alpine:latest'],
    ['docker.io/library/alpine', 'alpine'],
    ['docker.io/user/app:1', 'user/app:1'],
    ['docker.io/library/a/b', 'library/a/b'],
    ['quay.io/podman/stable', 'quay.io/podman/stable'],
    ['docker.io/localhost/app', 'docker.io/localhost/app'],
    ['docker.io/foo.bar/app', 'docker.io/foo.bar/app'],
    [`docker.io/library/alpine@${D}`, `alpine@${D}`],
  ])('familiarName(%s) = %s', (s, want) => {
    expect(familiarName(s)).toBe(want);
    expect(parseReference(familiarName(s))).toEqual(parseReference(s));
  });

  it('tells short names from fully qualified ones', () => {
    expect(isShortName('alpine')).toBe(true);
    expect(isShortName('user/app:1')).toBe(true);
    expect(isShortName('docker.io/alpine')).toBe(false);
    expect(isShortName('localhost/app')).toBe(false);
  });

  it('parseRepositoryAndTag defaults the tag and refuses digests', () => {
    expect(parseRepositoryAndTag('alpine')).toEqual({
      repository: 'docker.io/library/alpine',
      tag: 'latest',
    });
    expect(parseRepositoryAndTag('localhost:5000/x:v2')).toEqual({
      repository: 'localhost:5000/x',
      tag: 'v2',
    });
    expect(() => parseRepositoryAndTag(`alpine@${D}`)).toThrow(/not a digest/);
  });
});

// Arbitraries that follow Docker's grammar.
const pathComponent = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]{1,6}$/),
    fc.array(
      fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), fc.stringMatching(/^[a-z0-9]{1,6}$/)),
      {
        maxLength: 3,
      },
    ),
  )
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const path = fc.array(pathComponent, { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));
// A first component with a "." (or "localhost") would be read as a registry domain.
const shortPath = path.filter((p) => {
  const first = p.split('/')[0]!;
  return !p.includes('/') || (!first.includes('.') && first !== 'localhost');
});
const label = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?$/);
const host = fc.oneof(
  fc.array(label, { minLength: 2, maxLength: 3 }).map((l) => l.join('.')),
  fc.constant('localhost'),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((n) => n.join('.')),
  fc
    .array(fc.stringMatching(/^[0-9a-f]{1,4}$/), { minLength: 2, maxLength: 8 })
    .map((g) => `[${g.join(':')}]`),
);
const domain = fc
  .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([h, port]) => (port === undefined ? h : `${h}:${port}`))
  .filter((d) => d.toLowerCase() !== 'docker.io' && d.toLowerCase() !== 'index.docker.io');
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
const option = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const qualified = fc.record({ domain, path, tag: option(tag), digest: option(digest) }).map((r) => {
  const ref: Reference = { domain: r.domain, path: r.path };
  if (r.tag !== undefined) ref.tag = r.tag;
  if (r.digest !== undefined) ref.digest = r.digest;
  return ref;
});

describe('reference properties', () => {
  it('parse(format(ref)) gives ref back, and format(parse(s)) gives s back', () => {
    fc.assert(
      fc.property(qualified, (ref) => {
        const s = formatReference(ref);
        expect(parseReference(s)).toEqual(ref);
        expect(formatReference(parseReference(s))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('the familiar name parses back to the same reference', () => {
    const anyRef = fc.oneof(
      qualified,
      fc
        .record({ path: shortPath, tag: option(tag) })
        .map((r) => parseReference(r.tag ? `${r.path}:${r.tag}` : r.path)),
      path.map((p) => parseReference(`docker.io/${p}`)),
    );
    fc.assert(
      fc.property(anyRef, (ref) => {
        expect(parseReference(familiarName(ref))).toEqual(ref);
      }),
      { numRuns: 500 },
    );
  });

  it('short names land on docker.io, single components under library/', () => {
    fc.assert(
      fc.property(shortPath, (p) => {
        const ref = parseReference(p);
        expect(ref.domain).toBe('docker.io');
        expect(ref.path).toBe(p.includes('/') ? p : `library/${p}`);
      }),
    );
  });

  it('any string either parses or fails with E_INVALID_REFERENCE', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const ref = parseReference(s);
          expect(isReference(formatReference(ref))).toBe(true);
        } catch (err) {
          expect(isSkiffError(err, ErrorCode.InvalidReference)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
