import * as fs from 'node:fs';
import * as os from 'node:os';
import { findBinary } from '@skiff/sys';
import type { HostInfo, SeccompProfile } from './types.js';

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Capability names by bit number (linux/capability.h). */
const CAP_NAMES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** The capability names of a /proc/PID/status mask ("000001fffeffffff"). */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  const out: string[] = [];
  CAP_NAMES.forEach((name, bit) => {
    if ((mask >> BigInt(bit)) & 1n) out.push(`CAP_${name}`);
  });
  return out;
}

/** The hard limit from /proc/self/limits ("Max open files", "Max processes"). */
function hardLimit(row: string, fallback: number): number {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith(row));
    const hard = line?.slice(row.length).trim().split(/\s+/)[1];
    if (hard === 'unlimited') return Number.MAX_SAFE_INTEGER;
    return Number(hard) || fallback;
  } catch {
    return fallback;
  }
}

let cached: HostInfo | undefined;

/** Facts of this host for generateSpec (cached per process). */
export function detectHost(): HostInfo {
  if (cached) return cached;
  let capabilities: string[] = [];
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
    if (m) capabilities = capabilitiesFromMask(m[1]!);
  } catch {
    // not Linux: leave empty
  }
  let cgroupVersion: 1 | 2 = 1;
  try {
    cgroupVersion = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
  } catch {
    // keep v1
  }
  const info: HostInfo = {
    arch: GOARCH[process.arch] ?? process.arch,
    kernel: os.release(),
    hostname: os.hostname(),
    hardLimits: {
      nofile: hardLimit('Max open files', 1024),
      nproc: hardLimit('Max processes', 4096),
    },
    capabilities,
    cgroupVersion,
  };
  const init = findBinary('catatonit');
  if (init) info.initPath = init;
  cached = info;
  return info;
}

/** Where containers-common ships the default seccomp profile. */
export const SECCOMP_PROFILE_PATHS = [
  '/usr/share/containers/seccomp.json',
  '/etc/containers/seccomp.json',
];

/** The profile for `--security-opt seccomp=...`: null for unconfined or when none is installed. */
export function loadSeccompProfile(setting: string | undefined): SeccompProfile | null {
  if (setting === 'unconfined') return null;
  const files = setting ? [setting] : SECCOMP_PROFILE_PATHS;
  for (const f of files) {
    try {
      return JSON.parse(fs.readFileSync(f, 'utf8')) as SeccompProfile;
    } catch (err) {
      if (setting) throw err;
    }
  }
  return null;
}
