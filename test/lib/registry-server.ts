import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Starts Debian's real `docker-registry` (distribution 2.8) on 127.0.0.1 for tests, with its own
 * config file and storage directory, deletes enabled, and one of three auth modes.
 */

const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryUser {
  username: string;
  password: string;
  /**
   * Token mode only: the actions the token server grants this user on any repository
   * (default pull, push and delete). Catalog access is granted to every authenticated user.
   */
  actions?: readonly string[];
}

export type RegistryAuthMode = 'none' | 'basic' | 'token';

export interface RegistryServerOptions {
  auth?: RegistryAuthMode;
  /** Users accepted by htpasswd (basic) or the token server (token). */
  users?: readonly RegistryUser[];
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1 (its CA is `caCertPath`). */
  tls?: boolean;
}

/** A token request the token server received, for tests to assert on (never the password). */
export interface TokenRequest {
  account: string | undefined;
  scopes: string[];
  service: string | null;
  method: string;
  grantType?: string;
}

export interface RegistryServer {
  /** `http://127.0.0.1:PORT` (or https with `tls`). */
  url: string;
  /** `127.0.0.1:PORT`: the registry name clients use. */
  host: string;
  port: number;
  storageDir: string;
  /** The CA certificate a client needs to trust (tls mode). */
  caCertPath?: string;
  /** Token mode: the realm URL and the requests the token server saw. */
  tokenRealm?: string;
  tokenRequests: TokenRequest[];
  /** Everything the registry printed so far. */
  logs(): string;
  stop(): Promise<void>;
}

export const TOKEN_SERVICE = 'skiff-test-registry';
const TOKEN_ISSUER = 'skiff-test-issuer';

/** A TCP port that is free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A self-signed EC P-256 certificate made with openssl, with 127.0.0.1 and localhost as names. */
function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A token server as distribution's `auth: token` expects: checks basic credentials (or a
 * refresh token), grants the scopes the user may have, and signs an ES256 JWT whose `x5c`
 * header carries the certificate found in the registry's `rootcertbundle`.
 */
async function startTokenServer(
  users: readonly RegistryUser[],
  signer: { cert: string; key: string },
  requests: TokenRequest[],
): Promise<{ server: Server; realm: string }> {
  const key = createPrivateKey(readFileSync(signer.key));
  const der = Buffer.from(
    readFileSync(signer.cert, 'utf8')
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  const refreshTokens = new Map<string, RegistryUser>();

  function grant(user: RegistryUser | undefined, scopes: string[]) {
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const scope of scopes) {
      const parts = scope.split(':');
      if (parts.length < 3) continue;
      const type = parts[0]!;
      const actions = parts.at(-1)!.split(',');
      const name = parts.slice(1, -1).join(':');
      if (type === 'registry' && name === 'catalog' && user) {
        access.push({ type, name, actions: ['*'] });
      } else if (type === 'repository' && user) {
        const allowed = user.actions ?? ['pull', 'push', 'delete'];
        const ok = actions.filter((a) => allowed.includes(a) || allowed.includes('*'));
        access.push({ type, name, actions: ok });
      }
    }
    return access;
  }

  function issue(user: RegistryUser | undefined, scopes: string[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [der.toString('base64')] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: user?.username ?? '',
      aud: TOKEN_SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access: grant(user, scopes),
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${base64url(signature)}`;
  }

  function basicUser(header: string | undefined): RegistryUser | undefined | 'bad' {
    if (!header) return undefined;
    const m = /^Basic\s+(.+)$/i.exec(header);
    if (!m) return 'bad';
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const user = users.find((u) => u.username === username);
    return user && equalStrings(user.password, password) ? user : 'bad';
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return reply(404, { error: 'not found' });
    if (req.method === 'GET') {
      const scopes = url.searchParams
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      const user = basicUser(req.headers.authorization);
      requests.push({
        account: user === 'bad' ? '<bad>' : user?.username,
        scopes,
        service: url.searchParams.get('service'),
        method: 'GET',
      });
      if (user === 'bad') return reply(401, { errors: [{ code: 'UNAUTHORIZED' }] });
      const token = issue(user, scopes);
      const body: Record<string, unknown> = { token, expires_in: 300 };
      body.issued_at = new Date().toISOString();
      if (user && url.searchParams.get('offline_token') === 'true') {
        const refresh = randomBytes(16).toString('hex');
        refreshTokens.set(refresh, user);
        body.refresh_token = refresh;
      }
      return reply(200, body);
    }
    if (req.method === 'POST') {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        data += c;
      });
      req.on('end', () => {
        const form = new URLSearchParams(data);
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const grantType = form.get('grant_type') ?? '';
        let user: RegistryUser | undefined;
        if (grantType === 'refresh_token')
          user = refreshTokens.get(form.get('refresh_token') ?? '');
        else if (grantType === 'password') {
          const u = users.find((x) => x.username === form.get('username'));
          if (u && equalStrings(u.password, form.get('password') ?? '')) user = u;
        }
        requests.push({
          account: user?.username,
          scopes,
          service: form.get('service'),
          method: 'POST',
          grantType,
        });
        if (!user) return reply(401, { error: 'invalid_grant' });
        reply(200, { access_token: issue(user, scopes), expires_in: 300, scope: scopes.join(' ') });
      });
      return;
    }
    reply(405, { error: 'method not allowed' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { server, realm: `http://127.0.0.1:${port}/token` };
}

async function waitReady(
  url: string,
  child: ChildProcess,
  logs: () => string,
  caCert?: string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  const request = url.startsWith('https') ? httpsRequest : httpRequest;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited early:\n${logs()}`);
    }
    const status = await new Promise<number>((resolve) => {
      const req = request(
        `${url}/v2/`,
        { method: 'GET', timeout: 1000, ...(caCert ? { ca: readFileSync(caCert) } : {}) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve(0));
      req.on('timeout', () => {
        req.destroy();
        resolve(0);
      });
      req.end();
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not become ready at ${url}:\n${logs()}`);
}

export async function startRegistry(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const mode = options.auth ?? 'none';
  const users = options.users ?? [{ username: 'skiff', password: 'skiff-secret' }];
  const dir = mkdtempSync(join(tmpdir(), 'skiff-registry-'));
  const storageDir = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://${host}`;
  const tokenRequests: TokenRequest[] = [];
  let tokenServer: Server | undefined;
  let tokenRealm: string | undefined;

  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caCertPath: string | undefined;
  if (options.tls) {
    const serving = makeCertificate(dir, 'registry');
    caCertPath = serving.cert;
    lines.push('  tls:', `    certificate: ${serving.cert}`, `    key: ${serving.key}`);
  }
  if (mode === 'basic') {
    const htpasswd = join(dir, 'htpasswd');
    const entries = users.map((u) =>
      execFileSync('htpasswd', ['-Bbn', u.username, u.password], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(htpasswd, `${entries.join('\n')}\n`, { mode: 0o600 });
    lines.push('auth:', '  htpasswd:', '    realm: skiff-test', `    path: ${htpasswd}`);
  } else if (mode === 'token') {
    const signer = makeCertificate(dir, 'token-signer');
    const started = await startTokenServer(users, signer, tokenRequests);
    tokenServer = started.server;
    tokenRealm = started.realm;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${tokenRealm}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${signer.cert}`,
    );
  }
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, `${lines.join('\n')}\n`);

  let output = '';
  const child = spawn(REGISTRY_BIN, ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const logs = () => output;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(timer);
    }
    if (tokenServer) {
      tokenServer.closeAllConnections();
      await new Promise<void>((resolve) => tokenServer?.close(() => resolve()));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitReady(url, child, logs, caCertPath);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    host,
    port,
    storageDir,
    ...(caCertPath ? { caCertPath } : {}),
    ...(tokenRealm ? { tokenRealm } : {}),
    tokenRequests,
    logs,
    stop,
  };
}
