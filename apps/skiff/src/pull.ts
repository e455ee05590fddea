// skiff pull: copies an image from a registry or a local format into storage, naming it as
// podman does, and prints its id.
import { UsageError } from '@skiff/cli-kit';
import {
  formatReference,
  hostPlatform,
  isShortName,
  normalizePlatform,
  normalizeReference,
  type Platform,
  parsePlatform,
  parseReference,
  SkiffError,
} from '@skiff/oci-image';
import { loadRegistriesConf, resolveShortName } from '@skiff/registry';
import type { Store } from '@skiff/storage';
import {
  copyImage,
  type ImageName,
  listRegistryTags,
  listTransports,
  type OpenOptions,
  openDestination,
  openSource,
  parseImageName,
} from '@skiff/transports';
import { copyReporter } from './copy-progress.js';
import { type GlobalOptions, type RegistryFlags, registryOptions, withStore } from './options.js';

export interface PullFlags extends RegistryFlags {
  platform?: string;
  arch?: string;
  os?: string;
  variant?: string;
  allTags?: boolean;
  quiet?: boolean;
}

/** The platform --platform or --os/--arch/--variant choose (host's otherwise). */
export function chosenPlatform(flags: PullFlags): Platform | undefined {
  if (flags.platform !== undefined) {
    if (flags.arch !== undefined || flags.os !== undefined || flags.variant !== undefined) {
      throw new UsageError('--platform option can not be specified with --arch or --os');
    }
    return normalizePlatform(parsePlatform(flags.platform));
  }
  if (flags.arch === undefined && flags.os === undefined && flags.variant === undefined) {
    return undefined;
  }
  const host = hostPlatform();
  const p: Platform = {
    os: flags.os ?? host.os,
    architecture: flags.arch ?? host.architecture,
  };
  if (flags.variant !== undefined) p.variant = flags.variant;
  else if (flags.arch === undefined && host.variant) p.variant = host.variant;
  return normalizePlatform(p);
}

/** Whether `arg` starts with a transport prefix (`docker://`, `oci:`, ...). */
export function hasTransport(arg: string): boolean {
  if (arg.startsWith('docker://')) return true;
  const colon = arg.indexOf(':');
  if (colon <= 0) return false;
  const prefix = arg.slice(0, colon);
  return prefix !== 'docker' && listTransports().includes(prefix);
}

/** podman's local name for a path: "localhost/PATH:latest", when that is a valid name. */
function localPathName(p: string): string | undefined {
  const candidate = `localhost/${p.replace(/^\/+/, '').replace(/\/+$/, '')}`;
  try {
    const ref = parseReference(candidate);
    return formatReference({ domain: ref.domain, path: ref.path, tag: 'latest' });
  } catch {
    return undefined;
  }
}

/** A name from an archive or a ref annotation: short names land under localhost/ (podman). */
export function localName(
  text: string,
  shortDomain: 'localhost' | 'docker.io',
): string | undefined {
  try {
    const ref = normalizeReference(parseReference(text));
    if (ref.digest !== undefined) return undefined;
    if (isShortName(text) && shortDomain === 'localhost') {
      ref.domain = 'localhost';
      if (!text.startsWith('library/')) ref.path = ref.path.replace(/^library\//, '');
    }
    return formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
  } catch {
    return undefined;
  }
}

interface PullTarget {
  /** The source to copy from. */
  source: ImageName;
  /** What to call the image in storage. */
  names: string[];
  /** Registry pulls print "Trying to pull NAME...". */
  trying?: string;
}

/** The name(s) a non-registry source's image gets in storage, as podman picks them. */
async function localSourceNames(src: ImageName, opened: unknown): Promise<string[]> {
  switch (src.transport) {
    case 'oci':
    case 'dir': {
      const n = src.path ? localPathName(src.path) : undefined;
      return n ? [n] : [];
    }
    case 'oci-archive': {
      if (src.ref) {
        const n = localName(src.ref, 'localhost');
        if (n) return [n];
      }
      const n = src.path ? localPathName(src.path) : undefined;
      return n ? [n] : [];
    }
    case 'docker-archive': {
      if (src.reference) return [formatReference(normalizeReference(src.reference))];
      const tags = (opened as { repoTags?: string[] }).repoTags ?? [];
      return tags.map((t) => localName(t, 'docker.io')).filter((n): n is string => !!n);
    }
    default:
      return [];
  }
}

/** Fully-qualified references for a registry name, through registries.conf (podman rules). */
async function registryCandidates(typed: string): Promise<string[]> {
  if (!isShortName(typed)) return [formatReference(normalizeReference(parseReference(typed)))];
  const conf = await loadRegistriesConf();
  return resolveShortName(typed, conf).candidates;
}

export interface CopyIntoStoreOptions {
  store: Store;
  openOptions: OpenOptions;
  platform: Platform | undefined;
  quiet: boolean | undefined;
  signal: AbortSignal;
}

/** Copies one source into the store with `names`; returns the image id. */
export async function copyIntoStore(
  source: ImageName | string,
  names: string[] | ((opened: unknown) => Promise<string[]>),
  opts: CopyIntoStoreOptions,
): Promise<string> {
  const reporter = copyReporter(opts.quiet);
  const src = await openSource(source, opts.openOptions);
  try {
    const list = typeof names === 'function' ? await names(src) : names;
    const [first, ...rest] = list;
    const dst = await openDestination(`containers-storage:${first ?? ''}`, {
      ...opts.openOptions,
      store: opts.store,
    });
    try {
      reporter.start();
      const result = await copyImage(src, dst, {
        signal: opts.signal,
        ...(opts.platform ? { platform: opts.platform } : {}),
        ...(reporter.onEvent ? { onEvent: reporter.onEvent } : {}),
      });
      reporter.done();
      let id = (dst as { imageId?: string }).imageId;
      if (id === undefined) id = opts.store.lookupImage(result.manifestDigest).id;
      for (const n of rest) opts.store.tagImage(id, n);
      return id;
    } finally {
      reporter.stop();
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return /MANIFEST_UNKNOWN|NAME_UNKNOWN|NOT_FOUND|UNAUTHORIZED|DENIED|E_REGISTRY|E_NETWORK/i.test(
    code,
  );
}

async function pullOne(
  arg: string,
  flags: PullFlags,
  store: Store,
  openOptions: OpenOptions,
  platform: Platform | undefined,
  signal: AbortSignal,
): Promise<string[]> {
  const explicit = hasTransport(arg);
  const parsed = explicit ? parseImageName(arg) : undefined;
  const base = { store, openOptions, platform, quiet: flags.quiet, signal };

  if (parsed && parsed.transport !== 'docker') {
    if (flags.allTags)
      throw new UsageError('--all-tags only works with registry (docker://) images');
    const id = await copyIntoStore(parsed, (opened) => localSourceNames(parsed, opened), base);
    return [id];
  }

  const typed = parsed ? arg.slice('docker://'.length) : arg;
  let targets: PullTarget[];
  if (flags.allTags) {
    const ref = parseReference(typed);
    if (ref.tag !== undefined || ref.digest !== undefined) {
      throw new UsageError(`${arg}: tag can't be used with --all-tags/-a`);
    }
    const [repo] = await registryCandidates(typed);
    const repository = repo!.replace(/:latest$/, '');
    const tags = await listRegistryTags(`docker://${repository}`, openOptions);
    targets = tags.map((t) => ({
      source: parseImageName(`docker://${repository}:${t}`),
      names: [`${repository}:${t}`],
      trying: `${repository}:${t}`,
    }));
  } else {
    targets = (await registryCandidates(typed)).map((c) => ({
      source: parseImageName(`docker://${c}`),
      names: c.includes('@') ? [] : [c],
      trying: c,
    }));
  }

  const ids: string[] = [];
  const errors: { name: string; err: unknown }[] = [];
  for (const t of targets) {
    if (!flags.quiet && t.trying) process.stderr.write(`Trying to pull ${t.trying}...\n`);
    try {
      ids.push(await copyIntoStore(t.source, t.names, base));
      if (!flags.allTags) return ids;
    } catch (err) {
      if (signal.aborted || targets.length === 1 || flags.allTags || !isNotFound(err)) throw err;
      errors.push({ name: t.trying ?? t.source.text, err });
    }
  }
  if (errors.length > 0) {
    throw new SkiffError(
      (errors.at(-1)!.err as { code?: string }).code ?? 'E_PULL',
      `${errors.length} errors occurred while pulling:\n${errors
        .map((e) => ` * initializing source docker://${e.name}: ${(e.err as Error).message}`)
        .join('\n')}`,
    );
  }
  return ids;
}

export async function pullCommand(
  images: string[],
  flags: PullFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  if (images.length === 0) throw new UsageError('requires at least 1 arg(s), only received 0');
  const platform = chosenPlatform(flags);
  const openOptions: OpenOptions = { signal, ...registryOptions(flags) };
  await withStore(globals, async (store) => {
    for (const arg of images) {
      const ids = await pullOne(arg, flags, store, openOptions, platform, signal);
      for (const id of ids) process.stdout.write(`${id}\n`);
    }
  });
}
