import {
  alignColumns,
  goMap,
  goStruct,
  isJsonFormat,
  renderJson,
  renderRows,
  renderTemplate,
  UsageError,
} from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import type { NetworkConfig } from '@skiff/runtime';
import { confirm, INSPECT_INDENT, isCode, keyValues, safeRegExp } from './command-parts.js';
import { withRuntime } from './containers.js';
import type { GlobalOptions } from './options.js';

/** podman's wording for the runtime's network errors. */
function podmanError(err: unknown, ref?: string): unknown {
  if (isCode(err, 'E_NETWORK_NOT_FOUND') && ref !== undefined) {
    return new SkiffError(
      'E_NETWORK_NOT_FOUND',
      `unable to find network with name or ID ${ref}: network not found`,
    );
  }
  if (isCode(err, 'E_NETWORK_EXISTS')) {
    return new SkiffError('E_NETWORK_EXISTS', `${(err as Error).message}: network already exists`);
  }
  return err;
}

/** The JSON podman writes for a network: empty labels and options are left out. */
export function networkJson(n: NetworkConfig): Record<string, unknown> {
  return {
    name: n.name,
    id: n.id,
    driver: n.driver,
    network_interface: n.network_interface,
    created: n.created,
    subnets: n.subnets.map((s) => ({ subnet: s.subnet, gateway: s.gateway })),
    ipv6_enabled: n.ipv6_enabled,
    internal: n.internal,
    dns_enabled: n.dns_enabled,
    labels: n.labels && Object.keys(n.labels).length > 0 ? goMap({ ...n.labels }) : undefined,
    options: n.options && Object.keys(n.options).length > 0 ? goMap({ ...n.options }) : undefined,
    ipam_options: n.ipam_options,
  };
}

/** Go's time.Time String(): "2006-01-02 15:04:05.999999999 +0000 UTC". */
function goTimeString(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 UTC`;
}

/** The fields a --format template sees (podman's types.Network, Go names). */
function networkStruct(n: NetworkConfig, trunc: boolean) {
  return goStruct('types.Network', {
    Name: n.name,
    ID: trunc ? n.id.slice(0, 12) : n.id,
    Driver: n.driver,
    NetworkInterface: n.network_interface,
    Created: goTimeString(n.created),
    Subnets: n.subnets.map((s) =>
      goStruct('types.Subnet', { Subnet: s.subnet, Gateway: s.gateway }),
    ),
    IPv6Enabled: n.ipv6_enabled,
    Internal: n.internal,
    DNSEnabled: n.dns_enabled,
    Labels: goMap({ ...(n.labels ?? {}) }),
    Options: goMap({ ...(n.options ?? {}) }),
    IPAMOptions: n.ipam_options,
  });
}

// ------------------------------------------------------------------ create

export interface NetworkCreateFlags {
  driver?: string;
  gateway?: string;
  internal?: boolean;
  disableDns?: boolean;
  label?: string[];
  opt?: string[];
  subnet?: string[];
  ipRange?: string[];
  ipv6?: boolean;
  interfaceName?: string;
  ignore?: boolean;
}

export async function networkCreateCommand(
  name: string | undefined,
  flags: NetworkCreateFlags,
  globals: GlobalOptions,
): Promise<void> {
  const driver = flags.driver ?? 'bridge';
  if (driver !== 'bridge') {
    throw new UsageError(`unsupported driver ${driver}: skiff creates bridge networks`);
  }
  if (flags.ipv6) throw new UsageError('--ipv6 is not supported yet');
  if (flags.ipRange?.length) throw new UsageError('--ip-range is not supported yet');
  if ((flags.subnet?.length ?? 0) > 1) {
    throw new UsageError('only one --subnet is supported yet (IPv4)');
  }
  if (flags.gateway !== undefined && !flags.subnet?.length) {
    throw new UsageError('cannot set gateway or range without subnet');
  }
  const { createNetwork } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    let net: NetworkConfig;
    try {
      net = createNetwork(rt.store, {
        ...(name !== undefined ? { name } : {}),
        driver,
        ...(flags.subnet?.[0] !== undefined ? { subnet: flags.subnet[0] } : {}),
        ...(flags.gateway !== undefined ? { gateway: flags.gateway } : {}),
        ...(flags.internal ? { internal: true } : {}),
        ...(flags.disableDns ? { disableDns: true } : {}),
        labels: keyValues('--label', flags.label),
        options: keyValues('--opt', flags.opt),
        ...(flags.interfaceName !== undefined ? { interfaceName: flags.interfaceName } : {}),
        ...(flags.ignore ? { ignore: true } : {}),
      });
    } catch (err) {
      throw podmanError(err);
    }
    process.stdout.write(`${net.name}\n`);
  });
}

// ------------------------------------------------------------------ ls

const NETWORK_FILTERS = ['name', 'id', 'driver', 'label', 'label!', 'dangling'];

export function networkFilter(
  filters: string[],
  inUse: (n: NetworkConfig) => boolean,
): (n: NetworkConfig) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid filter "${f}": use KEY=VALUE`);
    const key = f.slice(0, eq);
    if (!NETWORK_FILTERS.includes(key)) throw new UsageError(`invalid filter "${key}"`);
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(eq + 1)]);
  }
  const labelMatch = (labels: Record<string, string>, v: string) => {
    const eq = v.indexOf('=');
    if (eq < 0) return v in labels;
    return labels[v.slice(0, eq)] === v.slice(eq + 1);
  };
  const tests: ((n: NetworkConfig) => boolean)[] = [];
  for (const [key, values] of byKey) {
    switch (key) {
      case 'name':
        tests.push((n) => values.some((v) => safeRegExp(v).test(n.name)));
        break;
      case 'id':
        tests.push((n) => values.some((v) => n.id.startsWith(v)));
        break;
      case 'driver':
        tests.push((n) => values.includes(n.driver));
        break;
      case 'label':
        tests.push((n) => values.every((v) => labelMatch(n.labels ?? {}, v)));
        break;
      case 'label!':
        tests.push((n) => values.every((v) => !labelMatch(n.labels ?? {}, v)));
        break;
      case 'dangling':
        for (const v of values) {
          if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0') {
            throw new UsageError(`invalid dangling filter value "${v}"`);
          }
        }
        tests.push((n) => values.every((v) => (v === 'true' || v === '1') === !inUse(n)));
        break;
    }
  }
  return (n) => tests.every((t) => t(n));
}

export interface NetworkLsFlags {
  format?: string;
  quiet?: boolean;
  filter?: string[];
  noTrunc?: boolean;
  trunc?: boolean;
  noheading?: boolean;
}

export async function networkLsCommand(
  flags: NetworkLsFlags,
  globals: GlobalOptions,
): Promise<void> {
  const { listNetworks, containerNetworkNames } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const used = new Set(rt.list().flatMap((c) => containerNetworkNames(c.options)));
    const filter = networkFilter(flags.filter ?? [], (n) => used.has(n.name));
    const list = listNetworks(rt.store).filter(filter);
    if (flags.quiet) {
      process.stdout.write(list.map((n) => `${n.name}\n`).join(''));
      return;
    }
    if (isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(list.map(networkJson), { indent: '  ' })}\n`);
      return;
    }
    const trunc = !(flags.noTrunc || flags.trunc === false);
    const rows = list.map((n) => networkStruct(n, trunc));
    let format =
      flags.format === undefined || flags.format === '' || flags.format === 'table'
        ? 'table {{.ID}}\t{{.Name}}\t{{.Driver}}'
        : flags.format;
    if (flags.noheading && format.startsWith('table')) {
      format = format.replace(/^table ?/, '') || '{{.ID}}\t{{.Name}}\t{{.Driver}}';
      process.stdout.write(alignColumns(renderRows(format, rows, { name: 'network ls' })));
      return;
    }
    process.stdout.write(
      renderRows(format, rows, { name: 'network ls', headers: { ID: 'NETWORK ID' } }),
    );
  });
}

// ------------------------------------------------------------------ inspect / exists

export async function networkInspectCommand(
  refs: string[],
  flags: { format?: string },
  globals: GlobalOptions,
): Promise<void> {
  if (refs.length === 0) throw new UsageError('requires at least 1 arg(s), only received 0');
  const { inspectNetwork } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const found: NetworkConfig[] = [];
    let missing: unknown;
    for (const ref of refs) {
      try {
        found.push(inspectNetwork(rt.store, ref));
      } catch (err) {
        if (!isCode(err, 'E_NETWORK_NOT_FOUND')) throw err;
        missing ??= new SkiffError(
          'E_NETWORK_NOT_FOUND',
          `inspecting object: network ${ref}: unable to find network with name or ID ${ref}: network not found`,
        );
      }
    }
    if (flags.format === undefined || isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(found.map(networkJson), { indent: INSPECT_INDENT })}\n`);
    } else {
      let out = '';
      for (const n of found) {
        out += renderTemplate(flags.format, networkStruct(n, false), { name: 'network inspect' });
      }
      process.stdout.write(out);
    }
    if (missing) throw missing;
  });
}

export async function networkExistsCommand(ref: string, globals: GlobalOptions): Promise<number> {
  const { inspectNetwork } = await import('@skiff/runtime');
  return withRuntime(globals, async (rt) => {
    try {
      inspectNetwork(rt.store, ref);
      return 0;
    } catch (err) {
      if (isCode(err, 'E_NETWORK_NOT_FOUND')) return 1;
      throw err;
    }
  });
}

// ------------------------------------------------------------------ rm / prune

function report(err: unknown): void {
  const { hint } = err as SkiffError;
  process.stderr.write(`Error: ${(err as Error).message}\n${hint ? `Hint: ${hint}\n` : ''}`);
}

export async function networkRmCommand(
  refs: string[],
  flags: { force?: boolean; time?: string },
  globals: GlobalOptions,
): Promise<number> {
  if (refs.length === 0) throw new UsageError('requires at least 1 arg(s), only received 0');
  const { removeNetwork } = await import('@skiff/runtime');
  return withRuntime(globals, async (rt) => {
    let code = 0;
    for (const ref of refs) {
      try {
        process.stdout.write(`${await removeNetwork(rt, ref, { force: Boolean(flags.force) })}\n`);
      } catch (err) {
        report(podmanError(err, ref));
        // podman: 1 for a missing network, 2 for one in use.
        code = isCode(err, 'E_NETWORK_NOT_FOUND') ? 1 : isCode(err, 'E_NETWORK_IN_USE') ? 2 : 125;
      }
    }
    return code;
  });
}

export async function networkPruneCommand(
  flags: { force?: boolean; filter?: string[] },
  globals: GlobalOptions,
): Promise<void> {
  const filter = networkFilter(flags.filter ?? [], () => false);
  if (
    !flags.force &&
    !(await confirm(
      'WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue? [y/N] ',
    ))
  ) {
    return;
  }
  const { pruneNetworks } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const removed = await pruneNetworks(rt, { filter });
    process.stdout.write(removed.map((n) => `${n}\n`).join(''));
  });
}

// ------------------------------------------------------------------ connect / disconnect

export async function networkConnectCommand(
  network: string,
  container: string,
  flags: { alias?: string[]; ip?: string },
  globals: GlobalOptions,
): Promise<void> {
  const { connectNetwork } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    try {
      await connectNetwork(rt, container, network, {
        ...(flags.alias?.length ? { aliases: flags.alias } : {}),
        ...(flags.ip !== undefined ? { ip: flags.ip } : {}),
      });
    } catch (err) {
      throw podmanError(err, network);
    }
  });
}

export async function networkDisconnectCommand(
  network: string,
  container: string,
  _flags: { force?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  const { disconnectNetwork } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    try {
      await disconnectNetwork(rt, container, network);
    } catch (err) {
      throw podmanError(err, network);
    }
  });
}
