import { describe, expect, it } from 'vitest';
import { parseCreds, parseDuration, parseRetryTimes } from '../src/options.js';

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
