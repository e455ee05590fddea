import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatLogLine,
  parseEnvFile,
  parseLogLine,
  parseMount,
  parseRestart,
  parseSignal,
  parseSize,
  parseUlimit,
  parseVolume,
  resolveEnvArg,
} from '../src/index.js';
import { readLog } from '../src/logs.js';

describe('flag parsing', () => {
  it('sizes, ulimits, signals, restart policies', () => {
    expect(parseSize('64m')).toBe(64 * 1024 * 1024);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('512')).toBe(512);
    expect(() => parseSize('lots')).toThrow(/invalid size/);
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('core=0')).toEqual({ name: 'core', soft: 0, hard: 0 });
    expect(() => parseUlimit('nofile=10:5')).toThrow(/exceeds/);
    expect(() => parseUlimit('bogus=1')).toThrow(/invalid ulimit type/);
    expect(parseSignal('TERM')).toBe(15);
    expect(parseSignal('SIGKILL')).toBe(9);
    expect(parseSignal('sigquit')).toBe(3);
    expect(parseSignal('10')).toBe(10);
    expect(parseSignal('RTMIN+3')).toBe(37);
    expect(() => parseSignal('NOPE')).toThrow(/invalid signal/);
    expect(parseRestart('on-failure:3')).toEqual({ policy: 'on-failure', maxRetries: 3 });
    expect(() => parseRestart('always:3')).toThrow(/invalid restart/);
  });

  it('-v and --mount', () => {
    expect(parseVolume('/a:/b:ro,z')).toEqual({
      type: 'bind',
      source: '/a',
      destination: '/b',
      readonly: true,
      options: [],
    });
    expect(parseVolume('data:/b:ro')).toEqual({
      type: 'volume',
      source: 'data',
      destination: '/b',
      readonly: true,
      options: [],
    });
    expect(parseVolume('/anon')).toEqual({ type: 'volume', destination: '/anon', options: [] });
    expect(() => parseVolume('bad name:/b')).toThrow(/invalid volume name/);
    expect(() => parseVolume('/a:/b:bogus')).toThrow(/invalid volume option/);
    expect(parseMount('type=tmpfs,target=/t,tmpfs-size=1m')).toEqual({
      type: 'tmpfs',
      destination: '/t',
      readonly: false,
      options: ['size=1m'],
    });
    expect(parseMount('type=volume,src=v1,target=/t')).toMatchObject({
      type: 'volume',
      source: 'v1',
      destination: '/t',
    });
    expect(() => parseMount('type=image,target=/t')).toThrow(/not supported yet/);
  });

  it('--env-file and -e KEY from the caller environment', () => {
    const text = '# comment\nA=1\n\nB=x=y\nFROM_HOST\nMISSING\n';
    expect(parseEnvFile(text, { FROM_HOST: 'h' })).toEqual(['A=1', 'B=x=y', 'FROM_HOST=h']);
    expect(resolveEnvArg('K', {})).toEqual([]);
    expect(resolveEnvArg('K=', {})).toEqual(['K=']);
  });
});

describe('k8s-file logs', () => {
  it('parses conmon lines and joins partial records', async () => {
    expect(parseLogLine('2024-05-01T10:00:00.123456789+00:00 stderr F oops')).toMatchObject({
      stream: 'stderr',
      partial: false,
      text: 'oops',
    });
    expect(parseLogLine('garbage')).toBeUndefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-log-'));
    try {
      const file = path.join(dir, 'ctr.log');
      const t = new Date('2024-05-01T10:00:00Z');
      const t2 = new Date('2024-05-01T10:00:05Z');
      fs.writeFileSync(
        file,
        formatLogLine(t, 'stdout', 'hel', true) +
          formatLogLine(t, 'stdout', 'lo') +
          formatLogLine(t, 'stderr', '') +
          formatLogLine(t2, 'stdout', 'late') +
          formatLogLine(t2, 'stdout', 'no newline', true),
      );
      const all = [];
      for await (const e of readLog(file)) all.push([e.stream, e.text, e.newline]);
      expect(all).toEqual([
        ['stdout', 'hello', true],
        ['stderr', '', true],
        ['stdout', 'late', true],
        ['stdout', 'no newline', false],
      ]);
      const since = [];
      for await (const e of readLog(file, { since: new Date('2024-05-01T10:00:01Z') }))
        since.push(e.text);
      expect(since).toEqual(['late', 'no newline']);
      const until = [];
      for await (const e of readLog(file, { until: new Date('2024-05-01T10:00:01Z') }))
        until.push(e.text);
      expect(until).toEqual(['hello', '']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
