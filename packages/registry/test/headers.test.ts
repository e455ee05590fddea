import { describe, expect, it } from 'vitest';
import {
  mergeScopes,
  nextLink,
  parseLinkHeader,
  parseRetryAfter,
  parseWwwAuthenticate,
  redact,
} from '../src/index.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Docker bearer challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ]);
  });

  it('reads several challenges, odd spacing, unquoted values, escapes and case', () => {
    expect(
      parseWwwAuthenticate([
        'Basic realm="a \\"quoted\\" realm" , BEARER Realm=https://x/token ,  service = svc,error="insufficient_scope"',
        'Negotiate abc123==, Digest realm="d", nonce="n,with,commas"',
      ]),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://x/token', service: 'svc', error: 'insufficient_scope' },
      },
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'digest', params: { realm: 'd', nonce: 'n,with,commas' } },
    ]);
  });

  it('keeps scopes with spaces and colons intact and tolerates garbage', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="r",scope="repository:a/b:pull,push repository:c:pull"',
    );
    expect(c!.params.scope).toBe('repository:a/b:pull,push repository:c:pull');
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate(',,, Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([
      { scheme: 'bearer', params: { realm: 'unterminated' } },
    ]);
  });
});

describe('Link parsing', () => {
  it('finds the next page, relative or absolute, among several links', () => {
    expect(nextLink('</v2/_catalog?last=b&n=2>; rel="next"', 'http://r:5000/v2/_catalog?n=2')).toBe(
      'http://r:5000/v2/_catalog?last=b&n=2',
    );
    expect(
      nextLink(
        ['<https://other/prev>; rel=prev', '<https://r/v2/a/tags/list?n=1&last=x>; rel="next"'],
        'https://r/',
      ),
    ).toBe('https://r/v2/a/tags/list?n=1&last=x');
    expect(nextLink('<https://r/x>; rel="previous first"', 'https://r/')).toBeUndefined();
    expect(nextLink(undefined, 'https://r/')).toBeUndefined();
  });

  it('parses parameters with quoted commas and semicolons', () => {
    expect(parseLinkHeader('<a>; rel="next"; title="x, y; z", <b>; rel=last')).toEqual([
      { url: 'a', params: { rel: 'next', title: 'x, y; z' } },
      { url: 'b', params: { rel: 'last' } },
    ]);
  });
});

describe('Retry-After, scopes and redaction', () => {
  it('parses seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('Sun, 06 Nov 1994 08:49:30 GMT');
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('merges scope actions per resource', () => {
    expect(
      mergeScopes(['repository:a:pull'], ['repository:a:push,pull', 'registry:catalog:*']),
    ).toEqual(['registry:catalog:*', 'repository:a:pull,push']);
  });

  it('removes credentials from text', () => {
    expect(
      redact('GET https://user:secret@host/v2/ with Authorization: Basic c2tpZmY6c2VjcmV0'),
    ).toBe('GET https://***@host/v2/ with Authorization: Basic ***');
    expect(redact('PUT /v2/a/blobs/uploads/x?_state=abcdef&digest=sha256:1')).toBe(
      'PUT /v2/a/blobs/uploads/x?_state=***&digest=sha256:1',
    );
  });
});
