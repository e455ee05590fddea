import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { SkiffError } from '@skiff/oci-image';
import { RegistryErrorCode } from './errors.js';

export interface TlsFiles {
  /** Extra CA certificates (PEM) from `*.crt` files; empty when there are none. */
  ca: string[];
  /** A client certificate and key from a `NAME.cert` + `NAME.key` pair. */
  cert?: string;
  key?: string;
  /** The directories the files were read from. */
  dirs: string[];
}

/** Where podman and skopeo look for per-registry certificates, `<root>/<host:port>/`. */
export function defaultCertsRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return [
    join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'certs.d'),
    '/etc/containers/certs.d',
    '/etc/docker/certs.d',
  ];
}

/**
 * Reads CA and client certificates for `host` ("host:port"): `*.crt` are CAs, `X.cert` with
 * `X.key` a client pair. `certDir` (skopeo's --cert-dir) replaces the default directories.
 */
export async function loadTlsFiles(
  host: string,
  opts: { certDir?: string; certsRoots?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<TlsFiles> {
  const dirs = opts.certDir
    ? [opts.certDir]
    : (opts.certsRoots ?? defaultCertsRoots(opts.env)).map((root) => join(root, host));
  const out: TlsFiles = { ca: [], dirs: [] };
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw err;
    }
    out.dirs.push(dir);
    for (const name of names) {
      if (name.endsWith('.crt')) out.ca.push(await readFile(join(dir, name), 'utf8'));
      else if (name.endsWith('.cert') && !out.cert) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName)) {
          throw new SkiffError(
            RegistryErrorCode.InvalidConfig,
            `client certificate ${join(dir, name)} has no matching key ${keyName}`,
          );
        }
        out.cert = await readFile(join(dir, name), 'utf8');
        out.key = await readFile(join(dir, keyName), 'utf8');
      } else if (name.endsWith('.key')) {
        const certName = `${name.slice(0, -'.key'.length)}.cert`;
        if (!names.includes(certName)) {
          throw new SkiffError(
            RegistryErrorCode.InvalidConfig,
            `client key ${join(dir, name)} has no matching certificate ${certName}`,
          );
        }
      }
    }
  }
  return out;
}

/** The CA list for a TLS connection: the system's roots plus the extra ones, if any. */
export function caList(files: TlsFiles): string[] | undefined {
  return files.ca.length ? [...rootCertificates, ...files.ca] : undefined;
}
