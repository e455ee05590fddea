// login / logout (skiff-image and skiff): store and remove registry credentials in auth.json, checking
// them against the registry first, with the messages skopeo and podman (containers/common) print.

import { isSkiffError, SkiffError } from '@skiff/oci-image';
import {
  defaultAuthFile,
  getCredentials,
  isInsecureRegistry,
  loadRegistriesConf,
  login,
  logout,
  normalizeAuthKey,
  RegistryClient,
} from '@skiff/registry';
import { UsageError } from './errors.js';

export interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  authfile?: string;
  certDir?: string;
  tlsVerify?: boolean;
  getLogin?: boolean;
  verbose?: boolean;
}

export interface LogoutFlags {
  all?: boolean;
  authfile?: string;
}

/** "host[:port]" or "host[:port]/namespace": what login accepts as the key to store under. */
function credentialsKey(arg: string): { key: string; host: string } {
  if (/^https?:\/\//i.test(arg) || arg.startsWith('docker://')) {
    throw new UsageError(`credentials key "${arg}" must not have a scheme`, {
      hint: `write ${arg.replace(/^[a-z]+:\/\//i, '')}`,
    });
  }
  const key = normalizeAuthKey(arg);
  const slash = key.indexOf('/');
  const repository = slash < 0 ? '' : key.slice(slash + 1);
  if (key === '' || /[@\s]/.test(key) || repository.includes(':')) {
    throw new UsageError(`credentials key "${arg}" is not a registry or repository name`, {
      hint: 'write HOST[:PORT] or HOST[:PORT]/NAMESPACE, without tag or digest',
    });
  }
  return { key, host: key.split('/')[0]! };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from a terminal, echoing nothing when `secret`. */
async function prompt(question: string, secret: boolean): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new UsageError(
      `cannot prompt for the ${secret ? 'password' : 'user name'}: stdin is not a terminal`,
      {
        hint: 'pass --username and --password, or --username with --password-stdin',
      },
    );
  }
  process.stderr.write(question);
  stdin.setRawMode(secret);
  stdin.resume();
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (text: string) => {
        for (const ch of text) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            if (secret) process.stderr.write('\n');
            resolve(line);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new SkiffError('E_ABORTED', 'interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    if (secret) stdin.setRawMode(false);
    stdin.pause();
  }
}

async function tlsVerifyFor(host: string, flag: boolean | undefined): Promise<boolean> {
  if (flag !== undefined) return flag;
  return !isInsecureRegistry(await loadRegistriesConf(), host);
}

export async function loginCommand(
  args: string[],
  flags: LoginFlags,
  signal: AbortSignal,
): Promise<void> {
  if (args.length > 1) throw new UsageError('login accepts only one registry to login to');
  if (args.length === 0) throw new UsageError('please provide a registry to login to');
  const { key, host } = credentialsKey(args[0]!);
  const out = process.stdout;
  const authfile = flags.authfile;
  const stored = await getCredentials(key, authfile ? { authfile } : {});

  if (flags.getLogin) {
    if (!stored?.username) throw new SkiffError('E_NOT_LOGGED_IN', `not logged into ${key}`);
    out.write(`${stored.username}\n`);
    return;
  }
  if (stored?.identityToken) {
    throw new SkiffError(
      'E_CREDENTIALS',
      'currently logged in, auth file contains an identity token',
      {
        hint: `log out of ${key} first`,
      },
    );
  }

  let password = flags.password;
  if (flags.passwordStdin) {
    if (password !== undefined) {
      throw new UsageError("can't specify both --password-stdin and --password");
    }
    if (!flags.username) throw new UsageError('must provide --username with --password-stdin');
    // Every line read, joined without their line ends (as containers/common reads it).
    password = (await readStdin()).split(/\r?\n/).join('');
  }

  const tlsVerify = await tlsVerifyFor(host, flags.tlsVerify);
  const client = { tlsVerify, ...(flags.certDir ? { certDir: flags.certDir } : {}) };

  if (!flags.username && !password && stored?.username && stored.password) {
    out.write(`Authenticating with existing credentials for ${key}\n`);
    const check = new RegistryClient({ ...client, registry: host, credentials: stored });
    try {
      await check.checkCredentials({ signal });
      out.write(`Existing credentials are valid. Already logged in to ${host}\n`);
      return;
    } catch (err) {
      if (!isSkiffError(err, 'E_UNAUTHORIZED')) throw err;
      out.write('Existing credentials are invalid, please enter valid username and password\n');
    } finally {
      await check.close();
    }
  }

  let username = flags.username;
  if (!username) {
    const previous = stored?.username;
    username = (await prompt(previous ? `Username (${previous}): ` : 'Username: ', false)).trim();
    if (!username) username = previous;
    if (!username) throw new UsageError('a user name is required to log in');
  }
  if (password === undefined || password === '') {
    password = await prompt('Password: ', true);
  }

  try {
    const result = await login(key, {
      ...client,
      username,
      password,
      ...(authfile ? { authfile } : {}),
      signal,
    });
    if (flags.verbose) out.write(`Used: ${result.authfile}\n`);
  } catch (err) {
    if (isSkiffError(err, 'E_UNAUTHORIZED')) {
      throw new SkiffError('E_UNAUTHORIZED', `logging into "${key}": invalid username/password`, {
        hint: 'check the user name and password for this registry',
        cause: err,
      });
    }
    throw new SkiffError(
      isSkiffError(err) ? err.code : 'E_REGISTRY',
      `authenticating creds for "${key}": ${(err as Error).message}`,
      { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
    );
  }
  out.write('Login Succeeded!\n');
}

export async function logoutCommand(args: string[], flags: LogoutFlags): Promise<void> {
  const authfile = flags.authfile;
  if (flags.all) {
    if (args.length > 0) throw new UsageError('--all takes no arguments');
    await logout(undefined, { all: true, ...(authfile ? { authfile } : {}) });
    process.stdout.write('Removed login credentials for all registries\n');
    return;
  }
  if (args.length > 1) throw new UsageError('logout accepts only one registry to logout from');
  if (args.length === 0) throw new UsageError('please provide a registry to logout from');
  const { key } = credentialsKey(args[0]!);
  try {
    await logout(key, authfile ? { authfile } : {});
  } catch (err) {
    if (isSkiffError(err, 'E_NOT_LOGGED_IN')) {
      throw new SkiffError('E_NOT_LOGGED_IN', `not logged into ${key}`, {
        hint: `${defaultAuthFile(authfile ? { authfile } : {})} holds no credentials for ${key}`,
      });
    }
    throw err;
  }
  process.stdout.write(`Removed login credentials for ${key}\n`);
}
