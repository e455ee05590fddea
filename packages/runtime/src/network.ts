import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import type { Store } from '@skiff/storage';
import { RuntimeErrorCode } from './errors.js';
import { bridgeSubnet, hostInterfaces, hostSubnets } from './netavark.js';
import {
  formatCidr,
  formatIpv4,
  type Ipv4Net,
  parseCidr,
  parseIpv4,
  pickFreeSubnet,
  subnetContains,
  subnetLast,
  subnetsOverlap,
} from './subnet.js';
import type { ContainerOptions } from './types.js';

/** A network as podman 4 stores and inspects it (netavark's network_info shape). */
export interface NetworkConfig {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  created: string;
  subnets: { subnet: string; gateway: string }[];
  ipv6_enabled: boolean;
  internal: boolean;
  dns_enabled: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  ipam_options: { driver: 'host-local' };
}

/** Where the default network comes from (containers.conf's default_network / interface). */
export interface NetworkSettings {
  /** Name of the network `bridge` (and no --network) means; default `skiff`. */
  defaultNetwork?: string;
  /** Its bridge; default `skiff0`. */
  defaultInterface?: string;
}

export interface CreateNetworkOptions {
  name?: string;
  /** `bridge` only. */
  driver?: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  /** `--disable-dns`; DNS (aardvark-dns) is on for new networks as podman. */
  disableDns?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** `--interface-name`: the bridge's name (default the first free skiffN). */
  interfaceName?: string;
  /** With `ignore` (`--ignore`) an existing network of that name is returned as is. */
  ignore?: boolean;
}

export const DEFAULT_NETWORK = 'skiff';
export const DEFAULT_INTERFACE = 'skiff0';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function networksDir(store: Store): string {
  return path.join(store.root, 'networks');
}

function configPath(store: Store, name: string): string {
  return path.join(networksDir(store), `${name}.json`);
}

/**
 * Where a network's address leases live. A bridge is a host resource: stores with their own
 * roots share the default bridge, so as root the leases are kept per bridge for the whole host
 * (tmpfs, gone after a reboot like the bridges), or two stores would hand out the same address.
 */
const HOST_IPAM_DIR = '/run/skiff/ipam';

function ipamDir(store: Store, net: NetworkConfig): string {
  if (process.getuid?.() === 0) return path.join(HOST_IPAM_DIR, net.network_interface);
  return path.join(networksDir(store), 'ipam', net.id);
}

/** A lease file holds the container id and its container directory, to tell stale leases. */
function leaseHolder(file: string): { id: string; dir: string | undefined } | undefined {
  try {
    const [id = '', dir] = fs.readFileSync(file, 'utf8').split('\n');
    return { id, dir: dir || undefined };
  } catch {
    return undefined;
  }
}

/** netavark's config dir (aardvark-dns state): per runroot, as podman's /run/containers/networks. */
export function netavarkConfigDir(store: Store): string {
  return path.join(store.runroot, 'networks');
}

/** Writes `file` atomically; with `exclusive`, fails with EEXIST instead of replacing. */
export function writeFileAtomic(file: string, data: string, exclusive = false): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o644 });
  try {
    if (exclusive) fs.linkSync(tmp, file);
    else fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** A short cross-process lock: a directory made with mkdir, stale after 10 s. */
function withLock<T>(dir: string, fn: () => T): T {
  const lock = path.join(dir, '.lock');
  fs.mkdirSync(dir, { recursive: true });
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 10_000) fs.rmdirSync(lock);
      } catch {
        // another process took it over
      }
      if (Date.now() > until) throw new SkiffError(RuntimeErrorCode.Timeout, `lock ${lock} held`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function readConfigs(store: Store): NetworkConfig[] {
  let names: string[];
  try {
    names = fs.readdirSync(networksDir(store)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: NetworkConfig[] = [];
  for (const f of names) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(networksDir(store), f), 'utf8')));
    } catch {
      // a half-written or foreign file: not a network
    }
  }
  return out;
}

function notFound(ref: string): SkiffError {
  return new SkiffError(RuntimeErrorCode.NetworkNotFound, `unable to find network ${ref}`);
}

function buildNetwork(
  opts: CreateNetworkOptions,
  name: string,
  existing: NetworkConfig[],
): NetworkConfig {
  if (opts.driver && opts.driver !== 'bridge') {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `unsupported network driver ${opts.driver}`,
    );
  }
  let subnet: Ipv4Net;
  if (opts.subnet) {
    subnet = parseCidr(opts.subnet);
    const clash = existing.find((n) =>
      n.subnets.some((s) => subnetsOverlap(parseCidr(s.subnet), subnet)),
    );
    if (clash) {
      throw new SkiffError(
        RuntimeErrorCode.InvalidOption,
        `subnet ${formatCidr(subnet)} is already used by network ${clash.name}`,
      );
    }
  } else {
    const used = [
      ...existing.flatMap((n) => n.subnets.map((s) => parseCidr(s.subnet))),
      ...hostSubnets(),
    ];
    subnet = pickFreeSubnet(used);
  }
  let gateway = subnet.base + 1;
  if (opts.gateway) {
    const g = parseIpv4(opts.gateway);
    if (g === undefined || !subnetContains(subnet, g)) {
      throw new SkiffError(
        RuntimeErrorCode.InvalidOption,
        `gateway ${opts.gateway} is not in subnet ${formatCidr(subnet)}`,
      );
    }
    gateway = g;
  }
  const id = randomBytes(32).toString('hex');
  let iface = opts.interfaceName;
  if (!iface) {
    // Named after the network's id, not numbered like podman's podman1, podman2: each store
    // keeps its own network configs, and two stores numbering bridges at once would pick the
    // same name for different subnets.
    const taken = new Set([...existing.map((n) => n.network_interface), ...hostInterfaces()]);
    for (let i = 0; !iface; i += 8) {
      const candidate = `skiff${id.slice(i, i + 8)}`;
      if (!taken.has(candidate)) iface = candidate;
    }
  }
  if (iface.length > 15 || !NAME_RE.test(iface)) {
    throw new SkiffError(RuntimeErrorCode.InvalidOption, `invalid interface name ${iface}`);
  }
  const dup = existing.find((n) => n.network_interface === iface);
  if (dup) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `bridge name ${iface} is already used by network ${dup.name}`,
    );
  }
  return {
    name,
    id,
    driver: 'bridge',
    network_interface: iface,
    created: new Date().toISOString(),
    subnets: [{ subnet: formatCidr(subnet), gateway: formatIpv4(gateway) }],
    ipv6_enabled: false,
    internal: opts.internal === true,
    dns_enabled: opts.disableDns !== true,
    labels: { ...(opts.labels ?? {}) },
    options: { ...(opts.options ?? {}) },
    ipam_options: { driver: 'host-local' },
  };
}

/** `network create`: a bridge network with a free subnet (or the one given). */
export function createNetwork(store: Store, opts: CreateNetworkOptions = {}): NetworkConfig {
  const dir = networksDir(store);
  return withLock(dir, () => {
    const existing = readConfigs(store);
    let name = opts.name;
    if (name === undefined) {
      for (let i = 1; !name; i++) {
        if (!existing.some((n) => n.name === `skiff${i}`)) name = `skiff${i}`;
      }
    }
    if (!NAME_RE.test(name)) {
      throw new SkiffError(RuntimeErrorCode.InvalidOption, `invalid network name ${name}`);
    }
    const same = existing.find((n) => n.name === name);
    if (same) {
      if (opts.ignore) return same;
      throw new SkiffError(RuntimeErrorCode.NetworkExists, `network name ${name} already used`);
    }
    const net = buildNetwork(opts, name, existing);
    writeFileAtomic(configPath(store, name), `${JSON.stringify(net, null, 2)}\n`, true);
    return net;
  });
}

/** The default network, created on first use with its own bridge and a free subnet. */
export function ensureDefaultNetwork(store: Store, settings: NetworkSettings = {}): NetworkConfig {
  const name = settings.defaultNetwork ?? DEFAULT_NETWORK;
  try {
    return JSON.parse(fs.readFileSync(configPath(store, name), 'utf8')) as NetworkConfig;
  } catch {
    // create below
  }
  const iface = settings.defaultInterface ?? DEFAULT_INTERFACE;
  // Another store may have brought the default bridge up already: share its subnet, or the
  // bridge would carry two subnets and netavark would route only one of them.
  const live = bridgeSubnet(iface);
  return createNetwork(store, {
    name,
    interfaceName: iface,
    ...(live ? { subnet: live.subnet, gateway: live.gateway } : {}),
    // podman's default network has DNS off; user networks have it on.
    disableDns: true,
    ignore: true,
  });
}

/** `network ls` (the default network is always there). */
export function listNetworks(store: Store, settings: NetworkSettings = {}): NetworkConfig[] {
  ensureDefaultNetwork(store, settings);
  return readConfigs(store).sort((a, b) => a.name.localeCompare(b.name));
}

/** `network inspect`: by name, full id or unique id prefix. */
export function inspectNetwork(
  store: Store,
  ref: string,
  settings: NetworkSettings = {},
): NetworkConfig {
  if (ref === (settings.defaultNetwork ?? DEFAULT_NETWORK) || ref === 'bridge') {
    return ensureDefaultNetwork(store, settings);
  }
  const all = readConfigs(store);
  const byName = all.find((n) => n.name === ref);
  if (byName) return byName;
  const byId = all.filter((n) => n.id.startsWith(ref));
  if (byId.length === 1 && ref.length > 0) return byId[0]!;
  if (byId.length > 1) {
    throw new SkiffError(RuntimeErrorCode.InvalidOption, `network id ${ref} is ambiguous`);
  }
  throw notFound(ref);
}

/** The network names a container joins (empty for none/host/container:). */
export function containerNetworkNames(
  options: ContainerOptions,
  settings: NetworkSettings = {},
): string[] {
  const mode = options.network ?? 'none';
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:') || mode === 'private') {
    return [];
  }
  const def = settings.defaultNetwork ?? DEFAULT_NETWORK;
  const names = mode
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '')
    .map((n) => (n === 'bridge' ? def : n));
  return [...new Set(names)];
}

/** Deletes the network's config and address allocations (callers check it is unused). */
export function deleteNetworkConfig(store: Store, net: NetworkConfig): void {
  fs.rmSync(configPath(store, net.name), { force: true });
  // The lease dir may be shared with other stores (one per bridge as root): drop the leases of
  // this store and stale ones, and the dir only once it is empty.
  const dir = ipamDir(store, net);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const holder = leaseHolder(path.join(dir, entry));
    const mine = holder?.dir?.startsWith(`${store.root}${path.sep}`) === true;
    if (holder && (mine || (holder.dir !== undefined && !fs.existsSync(holder.dir)))) {
      fs.rmSync(path.join(dir, entry), { force: true });
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // leases of other stores remain
  }
}

// ------------------------------------------------------------------ IPAM

/**
 * Allocates an address of `net` for a container: one file per address, created exclusively,
 * so concurrent starts never get the same one. `wanted` asks for a specific address.
 */
export function allocateIp(
  store: Store,
  net: NetworkConfig,
  containerId: string,
  wanted?: string,
): string {
  const dir = ipamDir(store, net);
  fs.mkdirSync(dir, { recursive: true });
  const s = net.subnets[0];
  if (!s) throw new SkiffError(RuntimeErrorCode.Network, `network ${net.name} has no subnet`);
  const subnet = parseCidr(s.subnet);
  const gateway = parseIpv4(s.gateway);
  const lease = `${containerId}\n${store.containerDir(containerId)}`;
  const tryTake = (ip: number, retry = true): boolean => {
    const file = path.join(dir, formatIpv4(ip));
    try {
      fs.writeFileSync(file, lease, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = leaseHolder(file);
      if (holder?.id === containerId) return true;
      // A lease whose container is gone (removed, or its store reset) is free again.
      if (retry && holder?.dir !== undefined && !fs.existsSync(holder.dir)) {
        fs.rmSync(file, { force: true });
        return tryTake(ip, false);
      }
      return false;
    }
  };
  if (wanted) {
    const ip = parseIpv4(wanted);
    if (ip === undefined || !subnetContains(subnet, ip) || ip === gateway) {
      throw new SkiffError(
        RuntimeErrorCode.InvalidOption,
        `IP ${wanted} is not usable in network ${net.name} (${s.subnet})`,
      );
    }
    if (!tryTake(ip)) {
      throw new SkiffError(RuntimeErrorCode.Network, `IP ${wanted} is already allocated`);
    }
    return wanted;
  }
  const last = subnetLast(subnet);
  for (let ip = subnet.base + 1; ip < last; ip++) {
    if (ip === gateway) continue;
    if (tryTake(ip)) return formatIpv4(ip);
  }
  throw new SkiffError(RuntimeErrorCode.Network, `network ${net.name} has no free IP address`);
}

/** Releases an address if `containerId` holds it. */
export function releaseIp(store: Store, net: NetworkConfig, containerId: string, ip: string): void {
  const file = path.join(ipamDir(store, net), ip);
  if (leaseHolder(file)?.id === containerId) fs.rmSync(file, { force: true });
}
