import { describe, expect, it } from 'vitest';
import {
  commandRegistryOptions,
  parseCreds,
  parseDuration,
  parseRetryTimes,
  registryOpenOptions,
} from '../src/options.js';

describe('command-line values', () => {
  it('parses Go durations for --command-timeout', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('10')).toThrow('invalid duration "10" for --command-timeout');
    expect(() => parseDuration('5 minutes')).toThrow('invalid duration');
  });

  it('splits USERNAME[:PASSWORD] at the first colon', () => {
    expect(parseCreds('--src-creds', 'alice:pa:ss')).toEqual({
      username: 'alice',
      password: 'pa:ss',
    });
    expect(parseCreds('--src-creds', 'bob')).toEqual({ username: 'bob' });
    expect(parseCreds('--src-creds', undefined)).toEqual({});
    expect(() => parseCreds('--dest-creds', ':secret')).toThrow(
      'invalid --dest-creds: the username is empty',
    );
  });

  it('accepts whole retry counts only', () => {
    expect(parseRetryTimes('3')).toBe(3);
    expect(parseRetryTimes(undefined)).toBeUndefined();
    expect(() => parseRetryTimes('-1')).toThrow('--retry-times');
  });
});

describe('registry flags as docker:// transport options', () => {
  it('passes credentials, auth file, certificates, TLS and retries under the transport names', () => {
    expect(
      registryOpenOptions('src-', {
        creds: 'alice:pa:ss',
        authfile: '/a.json',
        certDir: '/certs',
        tlsVerify: false,
        retryTimes: '2',
      }),
    ).toEqual({
      creds: 'alice:pa:ss',
      authfile: '/a.json',
      certDir: '/certs',
      tlsVerify: false,
      retryTimes: 2,
    });
    expect(registryOpenOptions('', { username: 'bob', password: 'pw' })).toEqual({
      creds: 'bob',
      password: 'pw',
    });
    expect(commandRegistryOptions({ creds: false })).toEqual({ noCreds: true });
  });

  it('refuses the combinations skopeo refuses', () => {
    expect(() => registryOpenOptions('dest-', { creds: 'a:b', username: 'a' })).toThrow(
      '--dest-creds and --dest-username/--dest-password are mutually exclusive',
    );
    expect(() => registryOpenOptions('', { creds: 'a:b', noCreds: true })).toThrow('--no-creds');
    expect(() => registryOpenOptions('', { creds: 'alice' })).toThrow('--creds needs a password');
    expect(() => registryOpenOptions('', { username: 'alice' })).toThrow('must be given together');
  });
});
