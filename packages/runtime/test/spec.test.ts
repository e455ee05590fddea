import * as fs from 'node:fs';
import type { ImageConfig } from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import {
  type ContainerOptions,
  capabilitiesFromMask,
  generateSpec,
  type HostInfo,
  parseEntrypoint,
  parseMount,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  type SeccompProfile,
  type SpecContext,
  translateSeccomp,
} from '../src/index.js';

const host: HostInfo = {
  arch: 'amd64',
  kernel: '6.1.0-18-amd64',
  hostname: 'buildhost',
  hardLimits: { nofile: 20000, nproc: 96364 },
  capabilities: capabilitiesFromMask('000001fffeffffff'),
  cgroupVersion: 1,
  initPath: '/usr/bin/catatonit',
};

const ctx: SpecContext = {
  id: 'f'.repeat(64),
  name: 'web',
  rootfs: '/var/lib/skiff/overlay/merged',
  runDir: '/run/skiff/containers/ffff/userdata',
  seccompProfile: null,
};

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app,root\nnogroup:x:65534:\n';

const config: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [] },
  config: {
    Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'],
    Entrypoint: ['/docker-entrypoint.sh'],
    Cmd: ['nginx', '-g', 'daemon off;'],
    WorkingDir: '/srv',
    StopSignal: 'SIGQUIT',
  },
};
const image = { config, passwd: PASSWD, group: GROUP };

const spec = (o: ContainerOptions, c: Partial<SpecContext> = {}) =>
  generateSpec(image, o, host, { ...ctx, ...c });

describe('generateSpec', () => {
  it('default container: podman defaults for an image with entrypoint, cmd, env and workdir', () => {
    expect(spec({})).toMatchSnapshot();
  });

  it('every option at once: user, mounts, ulimits, resources, caps, init, host namespaces', () => {
    expect(
      spec({
        command: ['sh'],
        entrypoint: [''],
        env: ['LANG=en_US', 'EXTRA=1'],
        envFile: ['FROM_FILE=yes', 'EXTRA=0'],
        user: 'app',
        groupAdd: ['nogroup'],
        workdir: '/work',
        hostname: 'h1',
        annotations: { 'org.example/a': 'b' },
        stopSignal: 'SIGINT',
        ulimits: [parseUlimit('nofile=100000:200000'), parseUlimit('core=0')],
        mounts: [
          parseVolume('/srv/data:/data:ro,Z'),
          parseVolume('/srv/a:/data/a'),
          parseMount('type=bind,src=/etc/ssl,dst=/etc/ssl,readonly'),
          parseTmpfs('/scratch:size=10m,mode=1777'),
        ],
        readOnly: true,
        capAdd: ['net_admin', 'CAP_SYS_PTRACE'],
        capDrop: ['chown', 'ALL'],
        noNewPrivileges: true,
        pid: 'host',
        ipc: 'host',
        network: 'host',
        memory: 64 * 1024 * 1024,
        cpus: 1.5,
        pidsLimit: 100,
        shmSize: 1024 * 1024,
        init: true,
      }),
    ).toMatchSnapshot();
  });

  it('--privileged: all host capabilities, no seccomp, no masked paths, rw /sys', () => {
    const s = spec(
      { privileged: true, command: ['true'] },
      { seccompProfile: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [] } },
    );
    expect(s.process.capabilities?.bounding).toEqual([...host.capabilities].sort());
    expect(s.process.capabilities?.bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(s.linux.seccomp).toBeUndefined();
    expect(s.linux.maskedPaths).toBeUndefined();
    expect(s.mounts.find((m) => m.destination === '/sys')?.options).not.toContain('ro');
    expect(s.linux.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('process args follow podman: command replaces Cmd, --entrypoint drops Cmd, "" clears', () => {
    expect(spec({}).process.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(spec({ command: ['ls'] }).process.args).toEqual(['/docker-entrypoint.sh', 'ls']);
    expect(spec({ entrypoint: ['/bin/sh'] }).process.args).toEqual(['/bin/sh']);
    expect(spec({ entrypoint: ['/bin/sh'], command: ['-c', 'x'] }).process.args).toEqual([
      '/bin/sh',
      '-c',
      'x',
    ]);
    expect(spec({ entrypoint: parseEntrypoint(''), command: ['id'] }).process.args).toEqual(['id']);
    expect(parseEntrypoint('["a","b"]')).toEqual(['a', 'b']);
    expect(() => spec({ entrypoint: [''] })).toThrow(/no command or entrypoint/);
  });

  it('rlimits never exceed the host hard limits', () => {
    const s = spec({ ulimits: [parseUlimit('nproc=200000')] });
    expect(s.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 96364, hard: 96364 },
    ]);
  });

  it('a non-root user gets the bounding set only, plus what --cap-add asked', () => {
    const s = spec({ user: '1000', capAdd: ['NET_RAW'] });
    expect(s.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 29] });
    expect(s.process.capabilities?.effective).toEqual(['CAP_NET_RAW']);
    expect(s.process.capabilities?.bounding).toContain('CAP_CHOWN');
    expect(s.process.env).toContain('HOME=/home/app');
  });

  it('user mounts replace default mounts at the same place', () => {
    const s = spec({ mounts: [parseVolume('/host/hosts:/etc/hosts:ro')] });
    const hosts = s.mounts.filter((m) => m.destination === '/etc/hosts');
    expect(hosts).toEqual([
      {
        destination: '/etc/hosts',
        type: 'bind',
        source: '/host/hosts',
        options: ['rbind', 'rprivate', 'ro'],
      },
    ]);
  });

  it('the seccomp profile containers-common ships translates for amd64 and the caps held', () => {
    const file = '/usr/share/containers/seccomp.json';
    if (!fs.existsSync(file)) return;
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as SeccompProfile;
    const s = spec({ command: ['true'] }, { seccompProfile: profile });
    const sc = s.linux.seccomp!;
    expect(sc.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(sc.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = new Set(
      sc.syscalls!.filter((c) => c.action === 'SCMP_ACT_ALLOW').flatMap((c) => c.names),
    );
    expect(allowed.has('read')).toBe(true);
    expect(allowed.has('arch_prctl')).toBe(true); // amd64-only block
    expect(allowed.has('chroot')).toBe(true); // CAP_SYS_CHROOT is a default cap
    expect(allowed.has('quotactl')).toBe(false); // needs CAP_SYS_ADMIN
    const admin = generateSpec(image, { command: ['true'], capAdd: ['SYS_ADMIN'] }, host, {
      ...ctx,
      seccompProfile: profile,
    });
    expect(
      admin.linux.seccomp!.syscalls!.some(
        (c) => c.names.includes('quotactl') && c.action === 'SCMP_ACT_ALLOW',
      ),
    ).toBe(true);
  });
});

describe('translateSeccomp', () => {
  it('keeps blocks by arch, caps and kernel, like containers/common', () => {
    const out = translateSeccomp(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        archMap: [{ architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
        syscalls: [
          { names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
          { names: ['b'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
          { names: ['c'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_X'] } },
          { names: ['d'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.8' } },
          {
            name: 'e',
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 1,
            args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }],
          },
        ],
      },
      { arch: 'arm64', capabilities: ['CAP_X'], kernel: '5.10.0' },
    );
    expect(out).toMatchInlineSnapshot(`
      {
        "architectures": [
          "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_ARM",
        ],
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
          {
            "action": "SCMP_ACT_ALLOW",
            "names": [
              "a",
            ],
          },
          {
            "action": "SCMP_ACT_ALLOW",
            "names": [
              "d",
            ],
          },
          {
            "action": "SCMP_ACT_ERRNO",
            "args": [
              {
                "index": 0,
                "op": "SCMP_CMP_EQ",
                "value": 1,
                "valueTwo": 0,
              },
            ],
            "errnoRet": 1,
            "names": [
              "e",
            ],
          },
        ],
      }
    `);
  });
});
