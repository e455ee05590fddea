import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ImageConfig, SkiffError } from '@skiff/oci-image';
import type { Store } from '@skiff/storage';
import type { ContainerRuntime } from './container.js';
import { RuntimeErrorCode } from './errors.js';
import {
  createNetns,
  type NetavarkOptions,
  netavark,
  type PerNetworkOptions,
  type PortMapping,
  removeNetns,
} from './netavark.js';
import {
  allocateIp,
  containerNetworkNames,
  DEFAULT_NETWORK,
  deleteNetworkConfig,
  ensureDefaultNetwork,
  inspectNetwork,
  listNetworks,
  type NetworkConfig,
  type NetworkSettings,
  netavarkConfigDir,
  releaseIp,
} from './network.js';
import { exposedPortMappings, resolvePorts } from './ports.js';
import type { ContainerOptions } from './types.js';

/** One network a running container is on (inspect's NetworkSettings.Networks). */
export interface AttachedNetwork {
  interface: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  aliases: string[];
  networkId: string;
}

/** What a container's network setup left: kept in its state until teardown. */
export interface ContainerNetworkState {
  /** The pinned namespace (bridge networks). */
  netns: string;
  /** What netavark setup got: teardown gets the same. */
  setup: NetavarkOptions;
  networks: Record<string, AttachedNetwork>;
  /** aardvark-dns servers of DNS-enabled networks, and their search domains. */
  dnsServers: string[];
  dnsSearch: string[];
  ports: PortMapping[];
}

function netByName(store: Store, name: string, settings: NetworkSettings): NetworkConfig {
  return name === (settings.defaultNetwork ?? DEFAULT_NETWORK) || name === 'bridge'
    ? ensureDefaultNetwork(store, settings)
    : inspectNetwork(store, name, settings);
}

/**
 * Network namespace for a container about to start: none/host need nothing, `container:X`
 * joins X's namespace, bridge networks get a new pinned namespace configured by netavark.
 */
export async function setupContainerNetwork(
  store: Store,
  c: { id: string; name: string; options: ContainerOptions },
  image: ImageConfig,
  settings: NetworkSettings,
): Promise<{ netnsPath?: string; state?: ContainerNetworkState }> {
  const mode = c.options.network ?? 'none';
  if (mode.startsWith('container:')) {
    const other = store.lookupContainer(mode.slice('container:'.length));
    const s = other.state as { network?: ContainerNetworkState; pid?: number; status?: string };
    if (s.network?.netns) return { netnsPath: s.network.netns };
    if (s.status === 'running' && s.pid) return { netnsPath: `/proc/${s.pid}/ns/net` };
    throw new SkiffError(
      RuntimeErrorCode.ContainerState,
      `container ${other.name} must be running to share its network namespace`,
    );
  }
  const names = containerNetworkNames(c.options, settings);
  if (names.length === 0) {
    if ((c.options.publish?.length ?? 0) > 0 && mode !== 'host') {
      throw new SkiffError(
        RuntimeErrorCode.InvalidOption,
        `-p needs a bridge network, not ${mode}`,
      );
    }
    return {};
  }
  const nets = names.map((n) => netByName(store, n, settings));
  const allocated: { net: NetworkConfig; ip: string }[] = [];
  let netns: string | undefined;
  try {
    const networks: Record<string, PerNetworkOptions> = {};
    const info: Record<string, NetworkConfig> = {};
    nets.forEach((net, i) => {
      const ip = allocateIp(store, net, c.id, i === 0 ? c.options.ip : undefined);
      allocated.push({ net, ip });
      networks[net.name] = {
        static_ips: [ip],
        interface_name: `eth${i}`,
        aliases: net.dns_enabled ? [c.name, ...(c.options.networkAliases ?? [])] : [],
      };
      info[net.name] = net;
    });
    const ports = await resolvePorts(
      c.options.publish ?? [],
      c.options.publishAll ? exposedPortMappings(image.config?.ExposedPorts ?? undefined) : [],
    );
    const setup: NetavarkOptions = {
      container_id: c.id,
      container_name: c.name,
      networks,
      network_info: info,
      port_mappings: ports,
    };
    netns = await createNetns(path.join(store.runroot, 'netns'));
    const status = await netavark('setup', netavarkConfigDir(store), netns, setup);
    return { netnsPath: netns, state: stateFrom(netns, setup, status, nets) };
  } catch (err) {
    for (const a of allocated) releaseIp(store, a.net, c.id, a.ip);
    if (netns) await removeNetns(netns);
    throw err;
  }
}

function stateFrom(
  netns: string,
  setup: NetavarkOptions,
  status: Awaited<ReturnType<typeof netavark>>,
  nets: NetworkConfig[],
): ContainerNetworkState {
  const state: ContainerNetworkState = {
    netns,
    setup,
    networks: {},
    dnsServers: [],
    dnsSearch: [],
    ports: setup.port_mappings,
  };
  for (const net of nets) {
    const opts = setup.networks[net.name]!;
    const st = status[net.name];
    const iface = st?.interfaces[opts.interface_name];
    const sub = iface?.subnets?.[0];
    const [ip = opts.static_ips[0] ?? '', len = '24'] = (sub?.ipnet ?? '').split('/');
    state.networks[net.name] = {
      interface: opts.interface_name,
      ip: ip || (opts.static_ips[0] ?? ''),
      prefixLen: Number(len),
      gateway: sub?.gateway ?? net.subnets[0]?.gateway ?? '',
      mac: iface?.mac_address ?? '',
      aliases: opts.aliases,
      networkId: net.id,
    };
    for (const s of st?.dns_server_ips ?? []) {
      if (!state.dnsServers.includes(s)) state.dnsServers.push(s);
    }
    for (const s of st?.dns_search_domains ?? []) {
      if (!state.dnsSearch.includes(s)) state.dnsSearch.push(s);
    }
  }
  return state;
}

/** Undoes setupContainerNetwork: netavark teardown, addresses released, namespace removed. */
export async function teardownContainerNetwork(
  store: Store,
  containerId: string,
  state: ContainerNetworkState | undefined,
): Promise<void> {
  if (!state) return;
  let failure: unknown;
  if (fs.existsSync(state.netns) && Object.keys(state.setup.networks).length > 0) {
    try {
      await netavark('teardown', netavarkConfigDir(store), state.netns, state.setup);
    } catch (err) {
      failure = err;
    }
  }
  for (const [name, n] of Object.entries(state.networks)) {
    const net = state.setup.network_info[name];
    if (net) releaseIp(store, net, containerId, n.ip);
  }
  await removeNetns(state.netns);
  if (failure) throw failure;
}

/** hosts entries of a networked container: its own addresses and host.containers.internal. */
export function networkHostEntries(state: ContainerNetworkState | undefined): {
  ips: string[];
  hostGateway?: string;
} {
  if (!state) return { ips: [] };
  const nets = Object.values(state.networks);
  const gw = nets.find((n) => n.gateway)?.gateway;
  return { ips: nets.map((n) => n.ip).filter(Boolean), ...(gw ? { hostGateway: gw } : {}) };
}

// ------------------------------------------------------------------ network commands on containers

function usersOf(store: Store, name: string, settings: NetworkSettings): string[] {
  return store
    .listContainers()
    .filter((r) =>
      containerNetworkNames(
        ((r.config as { options?: ContainerOptions }).options ?? {}) as ContainerOptions,
        settings,
      ).includes(name),
    )
    .map((r) => r.id);
}

/** `network rm`: refuses a network containers use unless `force` (which removes them). */
export async function removeNetwork(
  rt: ContainerRuntime,
  ref: string,
  opts: { force?: boolean; settings?: NetworkSettings } = {},
): Promise<string> {
  const settings = opts.settings ?? {};
  const net = inspectNetwork(rt.store, ref, settings);
  if (net.name === (settings.defaultNetwork ?? DEFAULT_NETWORK)) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `default network ${net.name} cannot be removed`,
    );
  }
  const users = usersOf(rt.store, net.name, settings);
  if (users.length > 0) {
    if (!opts.force) {
      throw new SkiffError(
        RuntimeErrorCode.NetworkInUse,
        `network ${net.name} is being used by container(s): ${users.join(', ')}`,
        { hint: 'remove the containers first, or use force' },
      );
    }
    for (const id of users) await rt.remove(id, { force: true });
  }
  deleteNetworkConfig(rt.store, net);
  return net.name;
}

/** `network prune`: removes the networks (not the default) no container uses. */
export async function pruneNetworks(
  rt: ContainerRuntime,
  opts: { settings?: NetworkSettings; filter?: (n: NetworkConfig) => boolean } = {},
): Promise<string[]> {
  const settings = opts.settings ?? {};
  const def = settings.defaultNetwork ?? DEFAULT_NETWORK;
  const removed: string[] = [];
  for (const net of listNetworks(rt.store, settings)) {
    if (net.name === def || (opts.filter && !opts.filter(net))) continue;
    if (usersOf(rt.store, net.name, settings).length > 0) continue;
    deleteNetworkConfig(rt.store, net);
    removed.push(net.name);
  }
  return removed;
}

function setNetworks(rt: ContainerRuntime, id: string, names: string[]): void {
  rt.store.updateContainer(id, (r) => {
    const cfg = r.config as { options?: ContainerOptions };
    return {
      config: {
        ...r.config,
        options: { ...(cfg.options ?? {}), network: names.length > 0 ? names.join(',') : 'none' },
      },
    };
  });
}

/**
 * `network connect`: adds the network to the container; a running one is attached now
 * (a new interface ethN), a stopped one on its next start.
 */
export async function connectNetwork(
  rt: ContainerRuntime,
  ref: string,
  network: string,
  opts: { aliases?: string[]; ip?: string; settings?: NetworkSettings } = {},
): Promise<void> {
  const settings = opts.settings ?? {};
  const c = rt.inspect(ref);
  const mode = c.options.network ?? 'none';
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `container ${c.name} uses network mode ${mode}: it cannot be connected to a network`,
    );
  }
  const net = netByName(
    rt.store,
    network === 'bridge' ? (settings.defaultNetwork ?? DEFAULT_NETWORK) : network,
    settings,
  );
  const names = containerNetworkNames(c.options, settings);
  if (names.includes(net.name)) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `container ${c.name} is already connected to network ${net.name}`,
    );
  }
  const state = c.state.network;
  if ((c.state.status === 'running' || c.state.status === 'paused') && state) {
    const ip = allocateIp(rt.store, net, c.id, opts.ip);
    const iface = `eth${Object.keys(state.setup.networks).length}`;
    const per: PerNetworkOptions = {
      static_ips: [ip],
      interface_name: iface,
      aliases: net.dns_enabled ? [c.name, ...(opts.aliases ?? [])] : [],
    };
    const one: NetavarkOptions = {
      container_id: c.id,
      container_name: c.name,
      networks: { [net.name]: per },
      network_info: { [net.name]: net },
      port_mappings: [],
    };
    let status: Awaited<ReturnType<typeof netavark>>;
    try {
      status = await netavark('setup', netavarkConfigDir(rt.store), state.netns, one);
    } catch (err) {
      releaseIp(rt.store, net, c.id, ip);
      throw err;
    }
    const added = stateFrom(state.netns, one, status, [net]);
    rt.store.updateContainer(c.id, (r) => {
      const s = (r.state as { network?: ContainerNetworkState }).network;
      if (!s) return undefined;
      const merged: ContainerNetworkState = {
        ...s,
        setup: {
          ...s.setup,
          networks: { ...s.setup.networks, [net.name]: per },
          network_info: { ...s.setup.network_info, [net.name]: net },
        },
        networks: { ...s.networks, ...added.networks },
        dnsServers: [...new Set([...s.dnsServers, ...added.dnsServers])],
        dnsSearch: [...new Set([...s.dnsSearch, ...added.dnsSearch])],
      };
      return { state: { ...r.state, network: merged } };
    });
  }
  setNetworks(rt, c.id, [...names, net.name]);
}

/** `network disconnect`: removes the network from the container (now, if it runs). */
export async function disconnectNetwork(
  rt: ContainerRuntime,
  ref: string,
  network: string,
  opts: { settings?: NetworkSettings } = {},
): Promise<void> {
  const settings = opts.settings ?? {};
  const c = rt.inspect(ref);
  const net = netByName(rt.store, network, settings);
  const names = containerNetworkNames(c.options, settings);
  if (!names.includes(net.name)) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `container ${c.name} is not connected to network ${net.name}`,
    );
  }
  const state = c.state.network;
  const attached = state?.networks[net.name];
  if (state && attached) {
    const one: NetavarkOptions = {
      container_id: c.id,
      container_name: c.name,
      networks: { [net.name]: state.setup.networks[net.name]! },
      network_info: { [net.name]: state.setup.network_info[net.name] ?? net },
      port_mappings: state.setup.port_mappings,
    };
    await netavark('teardown', netavarkConfigDir(rt.store), state.netns, one);
    releaseIp(rt.store, net, c.id, attached.ip);
    rt.store.updateContainer(c.id, (r) => {
      const s = (r.state as { network?: ContainerNetworkState }).network;
      if (!s) return undefined;
      const { [net.name]: _n, ...networks } = s.networks;
      const { [net.name]: _p, ...per } = s.setup.networks;
      const { [net.name]: _i, ...info } = s.setup.network_info;
      const merged = { ...s, networks, setup: { ...s.setup, networks: per, network_info: info } };
      return { state: { ...r.state, network: merged } };
    });
  }
  setNetworks(
    rt,
    c.id,
    names.filter((n) => n !== net.name),
  );
}
