import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { findBinary } from '@skiff/sys';
import { RuntimeErrorCode } from './errors.js';
import type { NetworkConfig } from './network.js';
import { run } from './oci.js';
import { formatCidr, type Ipv4Net, parseCidr } from './subnet.js';

/** One `-p` mapping in netavark's shape. */
export interface PortMapping {
  host_ip: string;
  container_port: number;
  host_port: number;
  /** Number of consecutive ports (1 for a single port). */
  range: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** netavark's per-network options of a container. */
export interface PerNetworkOptions {
  static_ips: string[];
  interface_name: string;
  aliases: string[];
}

/** netavark's network options (its stdin for setup and teardown). */
export interface NetavarkOptions {
  container_id: string;
  container_name: string;
  networks: Record<string, PerNetworkOptions>;
  network_info: Record<string, NetworkConfig>;
  port_mappings: PortMapping[];
}

/** netavark setup's answer for one network. */
export interface NetavarkStatus {
  dns_search_domains?: string[];
  dns_server_ips?: string[];
  interfaces: Record<
    string,
    { mac_address: string; subnets?: { ipnet: string; gateway?: string }[] }
  >;
}

function tool(name: string): string {
  const found = findBinary(name);
  if (!found) {
    throw new SkiffError(RuntimeErrorCode.RuntimeNotFound, `${name} not found`, {
      hint: `install the ${name} package`,
    });
  }
  return found;
}

/** Runs `netavark [global] setup|teardown NETNS` with the options on stdin. */
export async function netavark(
  command: 'setup' | 'teardown',
  configDir: string,
  netnsPath: string,
  opts: NetavarkOptions,
): Promise<Record<string, NetavarkStatus>> {
  const bin = tool('netavark');
  const aardvark = findBinary('aardvark-dns');
  const args = ['--config', configDir, '--rootless', 'false'];
  if (aardvark) args.push('--aardvark-binary', aardvark);
  args.push(command, netnsPath);
  fs.mkdirSync(configDir, { recursive: true });
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(JSON.stringify(opts));
  // 'exit', not 'close': a daemon netavark starts (aardvark-dns) must not keep us waiting.
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  await new Promise((r) => setTimeout(r, 0));
  if (code !== 0) {
    const msg = stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('failed to connect to syslog'))
      .join('; ');
    throw new SkiffError(
      RuntimeErrorCode.Network,
      `netavark ${command}: ${msg || `exit code ${code}`}`,
      /iptables/.test(msg) || /No such file/.test(msg)
        ? { hint: 'netavark needs the iptables package' }
        : undefined,
    );
  }
  if (command === 'teardown' || stdout.trim() === '') return {};
  return JSON.parse(stdout) as Record<string, NetavarkStatus>;
}

/**
 * A new network namespace pinned by a bind mount at `<dir>/skiff-<random>` (what `ip netns add`
 * does, in a directory of our own).
 */
export async function createNetns(dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `skiff-${randomBytes(8).toString('hex')}`);
  fs.writeFileSync(file, '', { mode: 0o600 });
  const r = await run(tool('unshare'), [`--net=${file}`, 'true']);
  if (r.code !== 0) {
    fs.rmSync(file, { force: true });
    throw new SkiffError(
      RuntimeErrorCode.Network,
      `cannot create a network namespace: ${r.stderr}`,
    );
  }
  return file;
}

/** Unpins and removes a namespace file of createNetns (idempotent). */
export async function removeNetns(file: string): Promise<void> {
  if (!fs.existsSync(file)) return;
  const r = await run('umount', [file]);
  if (r.code !== 0) await run('umount', ['-l', file]);
  fs.rmSync(file, { force: true });
}

/** Subnets the host uses now: routes (all tables) and interface addresses. */
export function hostSubnets(): Ipv4Net[] {
  const out: Ipv4Net[] = [];
  const ip = findBinary('ip');
  if (!ip) return out;
  const json = (args: string[]): unknown[] => {
    try {
      return JSON.parse(execFileSync(ip, ['-j', ...args], { encoding: 'utf8' })) as unknown[];
    } catch {
      return [];
    }
  };
  for (const r of json(['-4', 'route', 'show', 'table', 'all']) as { dst?: string }[]) {
    if (!r.dst || r.dst === 'default') continue;
    try {
      const n = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
      // Broadcast/local host routes are covered by the interface's own subnet below.
      if (n.prefix > 0) out.push(n);
    } catch {
      // not IPv4
    }
  }
  for (const l of json(['-4', 'addr']) as {
    addr_info?: { local?: string; prefixlen?: number }[];
  }[]) {
    for (const a of l.addr_info ?? []) {
      if (a.local) {
        try {
          out.push(parseCidr(`${a.local}/${a.prefixlen ?? 32}`));
        } catch {
          // skip
        }
      }
    }
  }
  return out;
}

/** The IPv4 subnet and gateway address of a bridge that is up now, if any. */
export function bridgeSubnet(iface: string): { subnet: string; gateway: string } | undefined {
  const ip = findBinary('ip');
  if (!ip || !fs.existsSync(`/sys/class/net/${iface}`)) return undefined;
  try {
    const links = JSON.parse(
      execFileSync(ip, ['-j', '-4', 'addr', 'show', 'dev', iface], { encoding: 'utf8' }),
    ) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    const a = links[0]?.addr_info?.find((x) => x.local && x.prefixlen);
    if (!a?.local || !a.prefixlen) return undefined;
    const net = parseCidr(`${a.local}/${a.prefixlen}`);
    return { subnet: formatCidr(net), gateway: a.local };
  } catch {
    return undefined;
  }
}

/** Host interface names (to keep new bridge names unique). */
export function hostInterfaces(): Set<string> {
  try {
    return new Set(fs.readdirSync('/sys/class/net'));
  } catch {
    return new Set();
  }
}
