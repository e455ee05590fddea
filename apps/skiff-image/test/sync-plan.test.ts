import { describe, expect, it } from 'vitest';
import {
  destinationName,
  parseDockerSource,
  parseSyncYaml,
  semverMatcher,
  tagFilter,
  tagOfDirName,
} from '../src/sync-plan.js';

describe('sync YAML source file', () => {
  it('reads images, tag regexes, semver ranges and per-registry settings in file order', () => {
    const cfg = parseSyncYaml(
      [
        'registry.example.com:',
        '  images:',
        '    busybox: []',
        '    redis:',
        '      - "1.0"',
        '      - 2.0',
        '      - "sha256:0000000000000000000000000000000011111111111111111111111111111111"',
        '  images-by-tag-regex:',
        '    nginx: ^1\\.13\\.[12]-alpine-perl$',
        '  images-by-semver:',
        '    alpine: ">= 3.18"',
        '  credentials:',
        '    username: john',
        '    password: this is a secret',
        '  tls-verify: true',
        '  cert-dir: /home/john/certs',
        'quay.io:',
        '  tls-verify: false',
        '  images:',
        '    coreos/etcd:',
        '      - latest',
      ].join('\n'),
      'sync.yml',
    );
    expect([...cfg.keys()]).toEqual(['registry.example.com', 'quay.io']);
    const r = cfg.get('registry.example.com')!;
    expect([...r.images.entries()]).toEqual([
      ['busybox', []],
      [
        'redis',
        ['1.0', '2', 'sha256:0000000000000000000000000000000011111111111111111111111111111111'],
      ],
    ]);
    expect(r.imagesByTagRegex.get('nginx')).toBe('^1\\.13\\.[12]-alpine-perl$');
    expect(r.imagesBySemver.get('alpine')).toBe('>= 3.18');
    expect(r.credentials).toEqual({ username: 'john', password: 'this is a secret' });
    expect(r.tlsVerify).toBe(true);
    expect(r.certDir).toBe('/home/john/certs');
    expect(cfg.get('quay.io')!.tlsVerify).toBe(false);
  });

  it('names unknown keys and wrongly typed values', () => {
    expect(() => parseSyncYaml('r.io:\n  imagez: {}\n', 'f.yml')).toThrow(
      'f.yml: unknown key "imagez" under registry "r.io"',
    );
    expect(() => parseSyncYaml('r.io:\n  images:\n    a: latest\n', 'f.yml')).toThrow(
      'r.io.images.a must be a list',
    );
    expect(() => parseSyncYaml('r.io:\n  tls-verify: maybe\n', 'f.yml')).toThrow(
      'r.io.tls-verify must be true or false',
    );
    expect(() => parseSyncYaml('r.io: [\n', 'f.yml')).toThrow('not valid YAML');
  });
});

describe('sync tag selection', () => {
  it('keeps tags matching any include and no exclude expression; digests always pass', () => {
    const keep = tagFilter(['^1\\.', '^latest$'], ['rc']);
    expect(['1.0', '1.1-rc1', '2.0', 'latest', 'latest2'].filter((t) => keep(t))).toEqual([
      '1.0',
      'latest',
    ]);
    expect(keep(undefined)).toBe(true);
    expect(tagFilter()('anything')).toBe(true);
    expect(() => tagFilter(['('])).toThrow('invalid regular expression for --include-tags');
  });

  it('matches semantic version constraints the way images-by-semver reads them', () => {
    const tags = ['1.0.0', 'v1.2.3', '1.2', '1.3.0-rc.1', '1.9.9', '2.0.0', 'latest', '0.9'];
    const pick = (c: string) => tags.filter(semverMatcher(c));
    expect(pick('>= 1.0.0, < 2')).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.9.9']);
    expect(pick('~1.2')).toEqual(['v1.2.3', '1.2']);
    expect(pick('^1.2.0')).toEqual(['v1.2.3', '1.2', '1.9.9']);
    expect(pick('1.x')).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.9.9']);
    expect(pick('< 1 || >= 2')).toEqual(['2.0.0', '0.9']);
    expect(pick('>= 1.3.0-rc.0, < 1.4')).toEqual(['1.3.0-rc.1']);
    expect(pick('!=2.0.0, >1.9')).toEqual([]);
    expect(pick('> 1.9')).toEqual(['2.0.0']);
    expect(() => semverMatcher('about 1.0')).toThrow('unsupported semantic version constraint');
  });
});

describe('sync destination names', () => {
  it('keeps the last path element, or the whole source path with --scoped', () => {
    expect(destinationName('/media/usb', 'registry.example.com/busybox:latest', false)).toBe(
      '/media/usb/busybox:latest',
    );
    expect(destinationName('/media/usb', 'registry.example.com/busybox:latest', true)).toBe(
      '/media/usb/registry.example.com/busybox:latest',
    );
    expect(destinationName('my-registry.local.lan/test/', 'busybox:1-glibc', false)).toBe(
      'my-registry.local.lan/test/busybox:1-glibc',
    );
    expect(destinationName('reg.lan/repo', 'nested/dir/app:v1', true)).toBe(
      'reg.lan/repo/nested/dir/app:v1',
    );
  });

  it('reads the tag of a dir: image from its directory name', () => {
    expect(tagOfDirName('/media/usb/busybox:1-glibc')).toBe('1-glibc');
    expect(tagOfDirName('busybox')).toBeUndefined();
    expect(tagOfDirName('busybox@sha256:abc')).toBeUndefined();
  });

  it('tells a repository from a tagged docker source', () => {
    expect(parseDockerSource('registry.example.com/busybox')).toEqual({
      repository: 'registry.example.com/busybox',
    });
    expect(parseDockerSource('docker://127.0.0.1:5000/a/b:v1')).toEqual({
      repository: '127.0.0.1:5000/a/b',
      tag: 'v1',
    });
    expect(() => parseDockerSource('Bad/Name')).toThrow('cannot obtain a valid image reference');
  });
});
