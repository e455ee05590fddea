// skiff-image delete: removes an image's manifest from a registry (by tag or digest). The
// registry deletes by digest, so every tag that points at the same manifest goes with it.
import { UsageError } from '@skiff/cli-kit';
import { formatReference, isSkiffError, normalizeReference, SkiffError } from '@skiff/oci-image';
import {
  loadRegistriesConf,
  parseCreds,
  RegistryClient,
  resolvePushEndpoint,
} from '@skiff/registry';
import { parseImageName } from '@skiff/transports';
import { type CommanderRegistryFlags, commandRegistryOptions } from './options.js';

export async function deleteCommand(
  image: string,
  flags: CommanderRegistryFlags,
  signal: AbortSignal,
): Promise<void> {
  const name = parseImageName(image);
  if (name.transport !== 'docker' || !name.reference) {
    throw new UsageError(
      `deleting images is supported for docker:// only, not ${name.transport}:`,
      {
        hint: 'remove local images (dir:, oci:, archives) with rm',
      },
    );
  }
  const opts = commandRegistryOptions(flags);
  const conf = await loadRegistriesConf();
  // Deletes go to the registry itself (after registries.conf remaps), never to a mirror.
  const ep = resolvePushEndpoint(conf, formatReference(normalizeReference(name.reference)));
  const client = new RegistryClient({
    registry: ep.registry,
    tlsVerify: opts.tlsVerify ?? !ep.insecure,
    ...(opts.certDir ? { certDir: opts.certDir } : {}),
    credentials: opts.noCreds
      ? null
      : opts.creds
        ? parseCreds(opts.creds, opts.password)
        : undefined,
    credentialOptions: {
      ...(opts.authfile ? { authfile: opts.authfile } : {}),
      credentialHelpers: conf.credentialHelpers,
    },
    ...(opts.retryTimes !== undefined ? { retryTimes: opts.retryTimes } : {}),
  });
  try {
    await client.deleteManifest(ep.repository, ep.ref, { signal });
  } catch (err) {
    let message = (err as Error).message;
    // The registry answers a HEAD for an unknown tag with a bare 404: say what it means.
    if (isSkiffError(err, 'E_MANIFEST_UNKNOWN') && !/manifest unknown/i.test(message)) {
      message += ', manifest unknown';
    }
    throw new SkiffError(
      isSkiffError(err) ? err.code : 'E_REGISTRY',
      `deleting image ${image}: ${message}`,
      { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
    );
  } finally {
    await client.close();
  }
}
