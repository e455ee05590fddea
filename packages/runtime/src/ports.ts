import * as net from 'node:net';
import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';
import type { PortMapping } from './netavark.js';
import { parseIpv4 } from './subnet.js';

function invalid(message: string): SkiffError {
  return new SkiffError(RuntimeErrorCode.InvalidOption, message);
}

function portRange(text: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw invalid(`invalid ${what} port ${text} in ${spec}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw invalid(`invalid ${what} port range ${text} in ${spec}`);
  return [a, b];
}

/**
 * `-p [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]`. A missing host port is 0:
 * a free one is picked at start (as podman does).
 */
export function parsePublish(text: string): PortMapping {
  let rest = text.trim();
  let protocol: PortMapping['protocol'] = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw invalid(`invalid protocol in ${text}`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  if (parts.length > 3) throw invalid(`invalid port mapping ${text} (IPv6 host IPs not supported)`);
  const container = parts.pop() ?? '';
  const host = parts.pop() ?? '';
  const hostIp = parts.pop() ?? '';
  if (hostIp !== '' && parseIpv4(hostIp) === undefined) {
    throw invalid(`invalid host IP ${hostIp} in ${text}`);
  }
  const [c0, c1] = portRange(container, 'container', text);
  let hostPort = 0;
  if (host !== '') {
    const [h0, h1] = portRange(host, 'host', text);
    if (h1 - h0 !== c1 - c0) throw invalid(`host and container port ranges differ in ${text}`);
    hostPort = h0;
  }
  return { host_ip: hostIp, container_port: c0, host_port: hostPort, range: c1 - c0 + 1, protocol };
}

/** `-P`: the image's ExposedPorts ("80/tcp") as mappings to free host ports. */
export function exposedPortMappings(exposed: Record<string, unknown> | undefined): PortMapping[] {
  const out: PortMapping[] = [];
  for (const key of Object.keys(exposed ?? {})) {
    const [port = '', proto = 'tcp'] = key.split('/');
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) continue;
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') continue;
    out.push({ host_ip: '', container_port: n, host_port: 0, range: 1, protocol: proto });
  }
  return out;
}

/** A host port that nothing listens on now (the kernel's pick). */
export function freePort(protocol: PortMapping['protocol'] = 'tcp'): Promise<number> {
  void protocol;
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Mappings with every host port 0 replaced by a free port; the user's -p win over -P. */
export async function resolvePorts(
  publish: readonly PortMapping[],
  publishAll: readonly PortMapping[],
): Promise<PortMapping[]> {
  const taken = new Set(publish.map((p) => `${p.container_port}/${p.protocol}`));
  const all = [
    ...publish,
    ...publishAll.filter((p) => !taken.has(`${p.container_port}/${p.protocol}`)),
  ];
  const out: PortMapping[] = [];
  for (const p of all) {
    out.push(p.host_port === 0 ? { ...p, host_port: await freePort(p.protocol) } : { ...p });
  }
  return out;
}
