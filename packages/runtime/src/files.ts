/** The /etc/hosts a container sees: localhost, its own name, `--add-host` entries (host network: the host's file first). */
export function hostsFile(opts: {
  hostname: string;
  name: string;
  addHosts?: readonly string[];
  hostHosts?: string;
  /** The container's addresses on its networks: its names point there instead of 127.0.1.1. */
  ips?: readonly string[];
  /** The address of the host seen from the container (host.containers.internal). */
  hostGateway?: string;
}): string {
  const lines: string[] = [];
  if (opts.hostHosts !== undefined) {
    lines.push(opts.hostHosts.replace(/\n*$/, ''));
  } else {
    lines.push('127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4');
    lines.push('::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6');
    const names = opts.hostname === opts.name ? opts.hostname : `${opts.hostname} ${opts.name}`;
    const ips = opts.ips && opts.ips.length > 0 ? opts.ips : ['127.0.1.1'];
    for (const ip of ips) lines.push(`${ip}\t${names}`);
    if (opts.hostGateway) lines.push(`${opts.hostGateway}\thost.containers.internal`);
  }
  for (const h of opts.addHosts ?? []) {
    const i = h.indexOf(':');
    if (i > 0) lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** resolv.conf from the host's, with `--dns`, `--dns-search`, `--dns-option` replacing its parts. */
export function resolvConf(opts: {
  hostResolv: string;
  dns?: readonly string[];
  dnsSearch?: readonly string[];
  dnsOptions?: readonly string[];
  /** Private network: a host's loopback resolver is unreachable from the container. */
  dropLoopback: boolean;
  /** DNS-enabled networks: aardvark-dns servers replace the host's, their domains go first. */
  networkDns?: readonly string[];
  networkSearch?: readonly string[];
}): string {
  const lines = opts.hostResolv.split('\n').map((l) => l.trim());
  let servers = lines
    .filter((l) => l.startsWith('nameserver'))
    .map((l) => l.split(/\s+/)[1] ?? '')
    .filter((s) => s !== '');
  if (opts.dropLoopback) servers = servers.filter((s) => !s.startsWith('127.') && s !== '::1');
  const search = lines
    .filter((l) => l.startsWith('search'))
    .flatMap((l) => l.split(/\s+/).slice(1));
  const options = lines
    .filter((l) => l.startsWith('options'))
    .flatMap((l) => l.split(/\s+/).slice(1));
  const out: string[] = [];
  if (opts.networkDns && opts.networkDns.length > 0) servers = [...opts.networkDns];
  const s =
    opts.dnsSearch && opts.dnsSearch.length > 0
      ? opts.dnsSearch
      : [...(opts.networkSearch ?? []), ...search.filter((d) => !opts.networkSearch?.includes(d))];
  if (s.length > 0 && !(s.length === 1 && s[0] === '.')) out.push(`search ${s.join(' ')}`);
  for (const n of opts.dns && opts.dns.length > 0 ? opts.dns : servers) out.push(`nameserver ${n}`);
  const o = opts.dnsOptions && opts.dnsOptions.length > 0 ? opts.dnsOptions : options;
  if (o.length > 0) out.push(`options ${o.join(' ')}`);
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}
