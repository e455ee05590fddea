import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  emptyRegistriesConf,
  isInsecureRegistry,
  loadRegistriesConf,
  parseRegistriesConf,
  type RegistriesConf,
  resolvePullEndpoints,
  resolvePushEndpoint,
  resolveShortName,
} from '../src/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-regconf-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(path: string, text: string) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

const MAIN = `
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
short-name-mode = "enforcing"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com:5000/mirrored/foo"
insecure = true

[[registry.mirror]]
location = "mirror-a.example.com/foo"

[[registry.mirror]]
location = "mirror-b.example.com/foo"
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "mirror-c.example.com/foo"
pull-from-mirror = "tag-only"
insecure = true

[[registry]]
location = "blocked.example.com"
blocked = true

[[registry]]
prefix = "*.corp.example.com"
insecure = true

[[registry.mirror]]
location = "cache.example.com"
`;

describe('registries.conf loading', () => {
  it('reads the main file, then drop-ins in name order, user drop-ins overriding same-named ones', async () => {
    const sys = join(dir, 'sys');
    write(join(sys, 'registries.conf'), MAIN);
    write(
      join(sys, 'registries.conf.d', '10-search.conf'),
      'unqualified-search-registries = ["quay.io"]\n',
    );
    write(
      join(sys, 'registries.conf.d', '20-alias.conf'),
      '[aliases]\n"busybox" = "docker.io/library/busybox"\n',
    );
    write(join(sys, 'registries.conf.d', 'ignored.txt'), 'not toml at all [[[');
    const home = join(dir, 'home');
    write(
      join(home, '.config', 'containers', 'registries.conf.d', '20-alias.conf'),
      '[aliases]\n"busybox" = "quay.io/skiff/busybox"\n"fedora" = ""\n',
    );
    const conf = await loadRegistriesConf({
      env: { HOME: home },
      systemPath: join(sys, 'registries.conf'),
      systemDropInDir: join(sys, 'registries.conf.d'),
    });
    expect(conf.files).toEqual([
      join(sys, 'registries.conf'),
      join(sys, 'registries.conf.d', '10-search.conf'),
      join(home, '.config', 'containers', 'registries.conf.d', '20-alias.conf'),
    ]);
    expect(conf.unqualifiedSearchRegistries).toEqual(['quay.io']);
    expect(conf.aliases).toEqual({ busybox: 'quay.io/skiff/busybox' });
    expect(conf.registries.map((r) => r.prefix)).toEqual([
      'example.com/foo',
      'blocked.example.com',
      '*.corp.example.com',
    ]);

    // A user registries.conf replaces the system file and its drop-ins.
    write(
      join(home, '.config', 'containers', 'registries.conf'),
      'unqualified-search-registries = ["user.example.com"]\n',
    );
    const user = await loadRegistriesConf({
      env: { HOME: home },
      systemPath: join(sys, 'registries.conf'),
      systemDropInDir: join(sys, 'registries.conf.d'),
    });
    expect(user.unqualifiedSearchRegistries).toEqual(['user.example.com']);
    expect(user.registries).toEqual([]);

    // CONTAINERS_REGISTRIES_CONF wins over both.
    const envFile = join(dir, 'env.conf');
    write(envFile, 'unqualified-search-registries = ["env.example.com"]\n');
    const fromEnv = await loadRegistriesConf({
      env: { HOME: home, CONTAINERS_REGISTRIES_CONF: envFile },
      systemPath: join(sys, 'registries.conf'),
      systemDropInDir: join(dir, 'no-such-dir'),
    });
    expect(fromEnv.files[0]).toBe(envFile);
    expect(fromEnv.unqualifiedSearchRegistries).toEqual(['env.example.com']);
  });

  it('converts the version 1 format and rejects broken files naming the file', () => {
    const v1 = parseRegistriesConf(
      '[registries.search]\nregistries = ["a.io"]\n[registries.insecure]\nregistries = ["b.io:5000"]\n[registries.block]\nregistries = ["c.io"]\n',
    );
    expect(v1.unqualifiedSearchRegistries).toEqual(['a.io']);
    expect(v1.registries?.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([
      ['b.io:5000', true, false],
      ['c.io', false, true],
    ]);
    const bad = (text: string) => {
      try {
        parseRegistriesConf(text, '/etc/x.conf');
      } catch (err) {
        expect(isSkiffError(err, 'E_INVALID_REGISTRIES_CONF')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(bad('unqualified-search-registries = [')).toMatch(/^\/etc\/x.conf: not valid TOML/);
    expect(bad('short-name-mode = "sometimes"')).toMatch(/short-name-mode/);
    expect(bad('[aliases]\n"docker.io/x" = "docker.io/library/x"')).toMatch(/short name/);
    expect(bad('[aliases]\n"x" = "x"')).toMatch(/fully-qualified/);
    expect(bad('[[registry]]\nprefix = "*.a.com/path"')).toMatch(/wildcard/);
    expect(
      bad(
        '[[registry]]\nlocation = "a.com"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "never"',
      ),
    ).toMatch(/pull-from-mirror/);
  });
});

describe('endpoint resolution', () => {
  const conf: RegistriesConf = {
    ...emptyRegistriesConf(),
    ...parseRegistriesConf(MAIN),
  } as RegistriesConf;

  it('remaps by longest prefix and lists usable mirrors first', () => {
    const tagged = resolvePullEndpoints(conf, 'example.com/foo/bar:1.0');
    expect(tagged.map((e) => [e.reference, e.insecure, e.mirror])).toEqual([
      ['mirror-a.example.com/foo/bar:1.0', false, true],
      ['mirror-c.example.com/foo/bar:1.0', true, true],
      ['internal.example.com:5000/mirrored/foo/bar:1.0', true, false],
    ]);
    expect(tagged.at(-1)).toMatchObject({
      registry: 'internal.example.com:5000',
      repository: 'mirrored/foo/bar',
      ref: '1.0',
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(
      resolvePullEndpoints(conf, `example.com/foo/bar@${digest}`).map((e) => e.registry),
    ).toEqual(['mirror-a.example.com', 'mirror-b.example.com', 'internal.example.com:5000']);
    expect(resolvePushEndpoint(conf, 'example.com/foo/bar:1.0').reference).toBe(
      'internal.example.com:5000/mirrored/foo/bar:1.0',
    );
    // Prefix matches only at a path boundary.
    expect(resolvePullEndpoints(conf, 'example.com/foobar:1').map((e) => e.reference)).toEqual([
      'example.com/foobar:1',
    ]);
  });

  it('applies wildcard prefixes, insecure and blocked registries', () => {
    expect(
      resolvePullEndpoints(conf, 'git.corp.example.com/team/app:2').map((e) => [
        e.reference,
        e.insecure,
      ]),
    ).toEqual([
      ['cache.example.com/team/app:2', false],
      ['git.corp.example.com/team/app:2', true],
    ]);
    expect(isInsecureRegistry(conf, 'a.corp.example.com')).toBe(true);
    expect(isInsecureRegistry(conf, 'corp.example.com')).toBe(false);
    let err: unknown;
    try {
      resolvePullEndpoints(conf, 'blocked.example.com/x:1');
    } catch (e) {
      err = e;
    }
    expect(isSkiffError(err, 'E_REGISTRY_BLOCKED')).toBe(true);
  });

  it('resolves short names through aliases and search registries per short-name-mode', () => {
    expect(resolveShortName('fedora:39', conf)).toEqual({
      kind: 'alias',
      candidates: ['registry.fedoraproject.org/fedora:39'],
      alias: 'fedora',
    });
    expect(resolveShortName('quay.io/a/b', conf)).toEqual({
      kind: 'qualified',
      candidates: ['quay.io/a/b:latest'],
    });
    expect(() => resolveShortName('busybox', conf)).toThrow(
      /ambiguous.*registry.fedoraproject.org\/busybox:latest, docker.io\/library\/busybox:latest/,
    );
    expect(resolveShortName('busybox', conf, { interactive: true }).candidates).toHaveLength(2);
    expect(
      resolveShortName('team/app@sha256:' + 'b'.repeat(64), {
        ...conf,
        shortNameMode: 'permissive',
      }).candidates,
    ).toEqual([
      `registry.fedoraproject.org/team/app@sha256:${'b'.repeat(64)}`,
      `docker.io/team/app@sha256:${'b'.repeat(64)}`,
    ]);
    expect(() => resolveShortName('busybox', emptyRegistriesConf())).toThrow(
      /no unqualified-search registries/,
    );
  });
});
