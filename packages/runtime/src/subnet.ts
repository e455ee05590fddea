import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';

/** An IPv4 subnet as numbers: base address (host bits zero) and prefix length. */
export interface Ipv4Net {
  base: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.89.0.0/24` (host bits are cleared, as podman normalizes `--subnet`). */
export function parseCidr(text: string): Ipv4Net {
  const [addr = '', len = '32'] = text.split('/');
  const ip = parseIpv4(addr);
  const prefix = Number(len);
  if (ip === undefined || !/^\d+$/.test(len) || prefix > 32) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `invalid IPv4 subnet ${text} (IPv6 is not supported yet)`,
    );
  }
  return { base: (ip & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(n: Ipv4Net): string {
  return `${formatIpv4(n.base)}/${n.prefix}`;
}

export function subnetContains(n: Ipv4Net, ip: number): boolean {
  return (ip & mask(n.prefix)) >>> 0 === n.base;
}

export function subnetsOverlap(a: Ipv4Net, b: Ipv4Net): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

/** Last address of the subnet (the broadcast address). */
export function subnetLast(n: Ipv4Net): number {
  return (n.base | (~mask(n.prefix) >>> 0)) >>> 0;
}

/**
 * The first /24 of the pool 10.89.0.0 - 10.255.255.0 that overlaps none of `used`
 * (podman's way of picking a subnet for a new network).
 */
export function pickFreeSubnet(used: readonly Ipv4Net[], start = '10.89.0.0'): Ipv4Net {
  const first = parseIpv4(start) ?? 0;
  const end = parseIpv4('10.255.255.0')!;
  for (let base = first; base <= end; base += 256) {
    const cand = { base, prefix: 24 };
    if (!used.some((u) => subnetsOverlap(cand, u))) return cand;
  }
  throw new SkiffError(
    RuntimeErrorCode.InvalidOption,
    'could not find a free subnet in 10.89.0.0-10.255.255.0',
    { hint: 'pass --subnet' },
  );
}
