import { RegistryClient, type RegistryClientOptions } from './client.js';
import { loginKey, storeCredentials } from './credentials.js';
import { registerSecret } from './errors.js';

export interface LoginOptions extends Omit<RegistryClientOptions, 'registry' | 'credentials'> {
  username: string;
  password: string;
  authfile?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Checks the credentials against the registry (basic auth on /v2/, or a token from its
 * realm) and stores them in the auth file as podman does. `registry` may carry a namespace
 * ("host/ns") for a more specific entry. Returns the auth file written.
 */
export async function login(
  registry: string,
  opts: LoginOptions,
): Promise<{ authfile: string; key: string }> {
  registerSecret(opts.password);
  const key = loginKey(registry);
  const host = key.split('/')[0]!;
  const { username, password, authfile, env, signal, ...clientOptions } = opts;
  const client = new RegistryClient({
    ...clientOptions,
    registry: host,
    credentials: { username, password, source: 'login' },
  });
  try {
    await client.checkCredentials(signal ? { signal } : {});
  } finally {
    await client.close();
  }
  const written = await storeCredentials(key, username, password, {
    ...(authfile ? { authfile } : {}),
    ...(env ? { env } : {}),
  });
  return { authfile: written, key };
}
