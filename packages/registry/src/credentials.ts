import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { RegistryErrorCode, redact, registerSecret } from './errors.js';

/** Credentials for one registry: a user name and password, or an identity (refresh) token. */
export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token ("identitytoken" in auth.json; helpers return it as `<token>`). */
  identityToken?: string;
  /** Where they came from: a file path, `docker-credential-NAME`, or `--creds`. Never secret. */
  source: string;
}

export interface CredentialOptions {
  /** "USER:PASS" or "USER" (then `password` must be given): wins over every file. */
  creds?: string;
  password?: string;
  /** An auth file to use instead of the default ones (podman's --authfile). */
  authfile?: string;
  /** Environment to read (REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, DOCKER_CONFIG, HOME, PATH). */
  env?: NodeJS.ProcessEnv;
  /**
   * registries.conf `credential-helpers`: "containers-auth.json" means the auth files;
   * any other name is an external `docker-credential-NAME` program.
   */
  credentialHelpers?: readonly string[];
  signal?: AbortSignal;
}

interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  username?: string;
  password?: string;
}

interface AuthFileContents {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [k: string]: unknown;
}

function envOf(opts: { env?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  return opts.env ?? process.env;
}

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

/** The auth file `login` writes to and `logout` edits (podman's choice of path). */
export function defaultAuthFile(opts: { authfile?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = envOf(opts);
  if (opts.authfile) return opts.authfile;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return join(env.XDG_CONFIG_HOME || join(homeOf(env), '.config'), 'containers', 'auth.json');
}

/** The auth files consulted for credentials, in order. A user-chosen file replaces them all. */
export function authFilePaths(opts: { authfile?: string; env?: NodeJS.ProcessEnv } = {}): string[] {
  const env = envOf(opts);
  if (opts.authfile) return [opts.authfile];
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const home = homeOf(env);
  const paths: string[] = [];
  if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json'));
  paths.push(
    env.DOCKER_CONFIG
      ? join(env.DOCKER_CONFIG, 'config.json')
      : join(home, '.docker', 'config.json'),
  );
  return [...new Set(paths)];
}

/**
 * Normalizes what a user or an old file may use as a key: "https://index.docker.io/v1/"
 * -> "docker.io", "http://host:5000/" -> "host:5000", "host/ns/" -> "host/ns".
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(k);
  if (scheme) {
    // Legacy keys with a scheme name only the host.
    k = k.slice(scheme[0].length).split('/')[0]!;
  }
  k = k.replace(/\/+$/, '');
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = 'docker.io';
  return k;
}

/** "host/ns/repo" -> ["host/ns/repo", "host/ns", "host"]: most specific first. */
export function authKeyCandidates(registryOrRepo: string): string[] {
  const parts = normalizeAuthKey(registryOrRepo).split('/');
  const out: string[] = [];
  for (let n = parts.length; n >= 1; n--) out.push(parts.slice(0, n).join('/'));
  return out;
}

async function readAuthFile(path: string): Promise<AuthFileContents | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SkiffError(
      RegistryErrorCode.Credentials,
      `reading auth file ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as AuthFileContents;
  } catch (err) {
    throw new SkiffError(
      RegistryErrorCode.Credentials,
      `auth file ${path} is not valid JSON: ${(err as Error).message}`,
      { hint: 'fix or remove the file' },
    );
  }
}

function decodeEntry(entry: AuthEntry, source: string, key: string): Credentials | undefined {
  let username = entry.username ?? '';
  let password = entry.password ?? '';
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) {
      throw new SkiffError(
        RegistryErrorCode.Credentials,
        `auth file ${source}: the "auth" value for ${key} is not base64 "user:password"`,
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  registerSecret(password);
  registerSecret(entry.identitytoken);
  if (entry.identitytoken) {
    return { username, password, identityToken: entry.identitytoken, source };
  }
  if (!username && !password) return undefined;
  return { username, password, source };
}

/** Runs `docker-credential-NAME get` with the server name on stdin. */
export async function credentialsFromHelper(
  helper: string,
  server: string,
  opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const env = envOf(opts);
  const { code, stdout, stderr } = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
  }>((resolve, reject) => {
    const child = spawn(program, ['get'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.on('error', (e) => {
      const errno = e as NodeJS.ErrnoException;
      reject(
        new SkiffError(
          RegistryErrorCode.Credentials,
          errno.code === 'ENOENT'
            ? `credential helper ${program} not found in PATH`
            : `running credential helper ${program}: ${e.message}`,
          { cause: e, hint: `install ${program} or remove it from credHelpers/credsStore` },
        ),
      );
    });
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.on('error', () => {});
    child.stdin.end(server);
  });
  if (code !== 0) {
    const text = `${stdout}${stderr}`;
    if (/credentials not found/i.test(text)) return undefined;
    throw new SkiffError(
      RegistryErrorCode.Credentials,
      redact(
        `credential helper ${program} failed for ${server} (exit ${code}): ${text.trim().slice(0, 300)}`,
      ),
    );
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new SkiffError(
      RegistryErrorCode.Credentials,
      `credential helper ${program} printed no valid JSON`,
    );
  }
  const username = parsed.Username ?? '';
  const secret = parsed.Secret ?? '';
  registerSecret(secret);
  if (!username && !secret) return undefined;
  if (username === '<token>')
    return { username: '', password: '', identityToken: secret, source: program };
  return { username, password: secret, source: program };
}

/** Parses "user:password" as given to --creds. */
export function parseCreds(creds: string, password?: string): Credentials {
  const colon = creds.indexOf(':');
  if (colon === -1) {
    if (password === undefined) {
      throw new SkiffError(
        RegistryErrorCode.Credentials,
        'credentials must be given as USERNAME:PASSWORD',
        {
          hint: 'pass --creds USER:PASS',
        },
      );
    }
    registerSecret(password);
    return { username: creds, password, source: '--creds' };
  }
  const username = creds.slice(0, colon);
  const pass = creds.slice(colon + 1);
  if (!username) {
    throw new SkiffError(RegistryErrorCode.Credentials, 'credentials have an empty user name', {
      hint: 'pass --creds USER:PASS',
    });
  }
  registerSecret(pass);
  return { username, password: pass, source: '--creds' };
}

/**
 * Finds credentials for a registry ("host[:port]") or a repository in it ("host/ns/repo",
 * where more specific auth.json keys win over the host's). Looks at `creds`, then the
 * configured helpers: the auth files (with their credHelpers and credsStore) and external
 * `docker-credential-*` programs. Returns undefined for anonymous access.
 */
export async function getCredentials(
  registryOrRepo: string,
  opts: CredentialOptions = {},
): Promise<Credentials | undefined> {
  if (opts.creds !== undefined) return parseCreds(opts.creds, opts.password);
  const keys = authKeyCandidates(registryOrRepo);
  const host = keys.at(-1)!;
  const helpers = opts.credentialHelpers?.length
    ? opts.credentialHelpers
    : ['containers-auth.json'];
  for (const helper of helpers) {
    if (helper !== 'containers-auth.json') {
      const found = await credentialsFromHelper(helper, host, opts);
      if (found) return found;
      continue;
    }
    for (const path of authFilePaths(opts)) {
      const contents = await readAuthFile(path);
      if (!contents) continue;
      const credHelper = contents.credHelpers?.[host];
      if (credHelper) {
        const found = await credentialsFromHelper(credHelper, host, opts);
        if (found) return found;
        continue;
      }
      const auths = contents.auths ?? {};
      const normalized = new Map<string, [string, AuthEntry]>();
      for (const [k, v] of Object.entries(auths)) {
        const n = normalizeAuthKey(k);
        // An exact key wins over a legacy one that normalizes to the same name.
        if (!normalized.has(n) || k === n) normalized.set(n, [k, v]);
      }
      for (const key of keys) {
        const hit = normalized.get(key);
        if (hit) {
          const found = decodeEntry(hit[1], path, hit[0]);
          if (found) return found;
        }
      }
      if (contents.credsStore) {
        const found = await credentialsFromHelper(contents.credsStore, host, opts);
        if (found) return found;
      }
    }
  }
  return undefined;
}

async function writeAuthFile(path: string, contents: AuthFileContents): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(contents, null, '\t')}\n`, { mode: 0o600 });
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Validates a login key: "host[:port]" or "host[:port]/namespace..." (a scheme is dropped). */
export function loginKey(registry: string): string {
  const key = normalizeAuthKey(registry);
  if (!key || /[\s@]/.test(key) || key.includes('//')) {
    throw new SkiffError(RegistryErrorCode.Credentials, `invalid registry name "${registry}"`, {
      hint: 'use HOST[:PORT] or HOST[:PORT]/NAMESPACE',
    });
  }
  return key;
}

/** Stores "user:pass" for `registry` in the auth file (base64 under `auths[key].auth`, as podman). */
export async function storeCredentials(
  registry: string,
  username: string,
  password: string,
  opts: { authfile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const key = loginKey(registry);
  const path = defaultAuthFile(opts);
  const contents = (await readAuthFile(path)) ?? {};
  contents.auths ??= {};
  contents.auths[key] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
  await writeAuthFile(path, contents);
  return path;
}

/**
 * Removes the stored credentials of `registry` (or, with `all`, of every registry) from the
 * auth file. Throws E_NOT_LOGGED_IN when there was nothing to remove for `registry`.
 */
export async function logout(
  registry: string | undefined,
  opts: { authfile?: string; env?: NodeJS.ProcessEnv; all?: boolean } = {},
): Promise<{ authfile: string; removed: string[] }> {
  const path = defaultAuthFile(opts);
  const contents = await readAuthFile(path);
  if (opts.all) {
    const removed = Object.keys(contents?.auths ?? {});
    if (contents) {
      contents.auths = {};
      await writeAuthFile(path, contents);
    }
    return { authfile: path, removed };
  }
  if (registry === undefined) {
    throw new SkiffError(RegistryErrorCode.Credentials, 'logout needs a registry name or --all');
  }
  const key = loginKey(registry);
  const auths = contents?.auths ?? {};
  const removed = Object.keys(auths).filter((k) => normalizeAuthKey(k) === key);
  if (!contents || removed.length === 0) {
    throw new SkiffError(RegistryErrorCode.NotLoggedIn, `not logged into ${key}`, {
      hint: `no credentials for ${key} in ${path}`,
    });
  }
  for (const k of removed) delete auths[k];
  await writeAuthFile(path, contents);
  return { authfile: path, removed };
}
