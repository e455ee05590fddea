// skiff-image sync: copies every image of a registry repository, a directory of dir: images or
// the repositories a YAML file lists, to a registry or a directory, as skopeo sync does.
import { lstat, readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { CopyProgress, UsageError } from '@skiff/cli-kit';
import { isSkiffError, parseDigest, parseReference, SkiffError } from '@skiff/oci-image';
import {
  type CopyOptions,
  copyImage,
  listRegistryTags,
  type OpenOptions,
  openDestination,
  openSource,
  parseImageName,
} from '@skiff/transports';
import { manifestFormat } from './copy.js';
import { platformFromGlobals } from './inspect.js';
import {
  type GlobalOptions,
  type RegistryOpenOptions,
  registrySide,
  type SourceAndDestRegistryFlags,
} from './options.js';
import {
  compileRegex,
  destinationName,
  parseDockerSource,
  parseSyncYaml,
  semverMatcher,
  tagFilter,
  tagOfDirName,
  type YamlRegistryConfig,
} from './sync-plan.js';

export interface SyncFlags extends SourceAndDestRegistryFlags {
  src?: string;
  dest?: string;
  all?: boolean;
  scoped?: boolean;
  dryRun?: boolean;
  keepGoing?: boolean;
  removeSignatures?: boolean;
  preserveDigests?: boolean;
  format?: string;
  includeTags?: string[];
  excludeTags?: string[];
}

/** One image to copy: its source name and what names it at the destination. */
interface SourceImage {
  /** `docker://host/repo:tag` or `dir:/path`. */
  name: string;
  /** "host/repo:tag" for registry images, the path below the source directory for dir ones. */
  suffix: string;
  tag: string | undefined;
}

/** A source repository (or directory) and the registry settings to read it with. */
interface SourceGroup {
  images: SourceImage[];
  registry: RegistryOpenOptions;
}

// ---- logging: skopeo logs through logrus; its text format is what scripts see on stderr --------

type Fields = Record<string, string | number | boolean>;

function logValue(v: string | number | boolean): string {
  const s = String(v);
  return /^[A-Za-z0-9\-._/@^+]+$/.test(s) ? s : JSON.stringify(s);
}

function rfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const pad = (n: number) => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return `${local}${off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(off / 60)}:${pad(off % 60)}`}`;
}

function log(level: 'info' | 'warning' | 'error', msg: string, fields: Fields = {}): void {
  const extra = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${logValue(v)}`)
    .join('');
  process.stderr.write(
    `time="${rfc3339(new Date())}" level=${level} msg=${JSON.stringify(msg)}${extra}\n`,
  );
}

// ---- sources ----------------------------------------------------------------------------------

function withoutPrefix(text: string, prefix: string): string {
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

async function registryTags(
  repository: string,
  registry: RegistryOpenOptions,
  signal: AbortSignal,
): Promise<string[]> {
  try {
    return await listRegistryTags(`docker://${repository}`, { ...registry, signal });
  } catch (err) {
    throw new SkiffError(
      isSkiffError(err) ? err.code : 'E_REGISTRY',
      `determining repository tags for repo ${repository}: ${(err as Error).message}`,
      { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
    );
  }
}

function taggedImages(repository: string, tags: string[]): SourceImage[] {
  return tags.map((tag) => ({
    name: `docker://${repository}:${tag}`,
    suffix: `${repository}:${tag}`,
    tag,
  }));
}

async function dockerSource(
  source: string,
  registry: RegistryOpenOptions,
  signal: AbortSignal,
): Promise<SourceGroup[]> {
  const ref = parseDockerSource(source);
  const tagged = ref.tag !== undefined || ref.digest !== undefined;
  log('info', 'Tag presence check', { imagename: source, tagged });
  if (tagged) {
    const suffix = `${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
    return [{ images: [{ name: `docker://${suffix}`, suffix, tag: ref.tag }], registry }];
  }
  log('info', 'Getting tags', { image: ref.repository });
  const images = taggedImages(ref.repository, await registryTags(ref.repository, registry, signal));
  if (images.length === 0) {
    throw new SkiffError('E_NOTHING_TO_SYNC', `no images to sync found in "${source}"`);
  }
  return [{ images, registry }];
}

/** Directories below `root` that hold a dir: image (a manifest.json), in sorted order. */
async function findDirImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) {
      out.push(dir);
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name));
  };
  await walk(root);
  return out;
}

async function dirSource(source: string, registry: RegistryOpenOptions): Promise<SourceGroup[]> {
  const root = path.resolve(withoutPrefix(source, 'dir:'));
  try {
    await lstat(root);
  } catch (err) {
    throw new SkiffError(
      'E_NOT_FOUND',
      `invalid source directory specified: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const dirs = await findDirImages(root);
  if (dirs.length === 0) {
    throw new SkiffError('E_NOTHING_TO_SYNC', `no images to sync found in "${source}"`, {
      hint: 'a dir: image is a directory holding manifest.json, as "copy ... dir:PATH" writes it',
    });
  }
  const images = dirs.map((dir) => {
    const rel = path.relative(root, dir).split(path.sep).join('/');
    const suffix = rel === '' ? path.basename(root) : rel;
    return { name: `dir:${dir}`, suffix, tag: tagOfDirName(suffix) };
  });
  return [{ images, registry }];
}

function yamlRegistryOptions(
  base: RegistryOpenOptions,
  cfg: YamlRegistryConfig,
): RegistryOpenOptions {
  const out: RegistryOpenOptions = { ...base };
  if (cfg.tlsVerify !== undefined) out.tlsVerify = cfg.tlsVerify;
  if (cfg.certDir !== undefined) out.certDir = cfg.certDir;
  if (cfg.credentials) {
    out.creds = `${cfg.credentials.username}:${cfg.credentials.password}`;
    delete out.password;
    delete out.noCreds;
  }
  return out;
}

/** "host/repo" for a YAML entry, or undefined (logged) when it is not a repository name. */
function yamlRepository(registryName: string, repo: string): string | undefined {
  try {
    const ref = parseReference(`${registryName}/${repo}`);
    if (ref.tag !== undefined || ref.digest !== undefined)
      throw new Error('a tag or digest is not allowed here');
    return `${ref.domain}/${ref.path}`;
  } catch (err) {
    log('error', 'Error parsing repository name, skipping', { repo, registry: registryName });
    log('error', (err as Error).message);
    return undefined;
  }
}

async function yamlSource(
  file: string,
  base: RegistryOpenOptions,
  signal: AbortSignal,
): Promise<SourceGroup[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SkiffError('E_NOT_FOUND', `reading ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const groups: SourceGroup[] = [];
  for (const [registryName, cfg] of parseSyncYaml(text, file)) {
    if (cfg.images.size + cfg.imagesByTagRegex.size + cfg.imagesBySemver.size === 0) {
      log('warning', 'No images specified for registry', { registry: registryName });
      continue;
    }
    const registry = yamlRegistryOptions(base, cfg);
    const add = (images: SourceImage[], fields: Fields) => {
      if (images.length === 0) log('warning', 'No refs to sync found', fields);
      else groups.push({ images, registry });
    };
    /** Every tag of the repository, or undefined (logged) when the registry would not say. */
    const allTags = async (repository: string, fields: Fields) => {
      log('info', 'Querying registry for image tags', fields);
      try {
        return await registryTags(repository, registry, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        log('error', 'Error processing repo, skipping', fields);
        log('error', (err as Error).message);
        return undefined;
      }
    };

    for (const [repo, refs] of cfg.images) {
      const fields = { repo, registry: registryName };
      const repository = yamlRepository(registryName, repo);
      if (repository === undefined) continue;
      log('info', 'Processing repo', fields);
      let images: SourceImage[];
      if (refs.length > 0) {
        images = refs.map((ref) => {
          const isDigest = ref.includes(':');
          if (isDigest) parseDigest(ref);
          const sep = isDigest ? '@' : ':';
          return {
            name: `docker://${repository}${sep}${ref}`,
            suffix: `${repository}${sep}${ref}`,
            tag: isDigest ? undefined : ref,
          };
        });
      } else {
        const tags = await allTags(repository, fields);
        if (tags === undefined) continue;
        images = taggedImages(repository, tags);
      }
      add(images, fields);
    }
    for (const [repo, regex] of cfg.imagesByTagRegex) {
      const fields = { repo, registry: registryName };
      const repository = yamlRepository(registryName, repo);
      if (repository === undefined) continue;
      log('info', 'Processing repo', fields);
      const re = compileRegex(regex, `images-by-tag-regex ${registryName}/${repo}`);
      const tags = await allTags(repository, fields);
      if (tags === undefined) continue;
      log('info', `Start filtering using the regular expression: ${regex}`, fields);
      add(
        taggedImages(
          repository,
          tags.filter((t) => re.test(t)),
        ),
        fields,
      );
    }
    for (const [repo, constraint] of cfg.imagesBySemver) {
      const fields = { repo, registry: registryName };
      const repository = yamlRepository(registryName, repo);
      if (repository === undefined) continue;
      log('info', 'Processing repo', fields);
      const matches = semverMatcher(constraint);
      const tags = await allTags(repository, fields);
      if (tags === undefined) continue;
      log('info', `Start filtering using the semantic version constraint: ${constraint}`, fields);
      add(taggedImages(repository, tags.filter(matches)), fields);
    }
  }
  return groups;
}

// ---- the command ------------------------------------------------------------------------------

const SOURCE_TRANSPORTS = ['docker', 'dir', 'yaml'];
const DEST_TRANSPORTS = ['docker', 'dir'];

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw new SkiffError('E_IO', `destination directory could not be used: ${err.message}`);
    },
  );
}

async function copyOne(
  from: string,
  to: string,
  srcOpts: OpenOptions,
  dstOpts: OpenOptions,
  options: CopyOptions,
): Promise<void> {
  const progress = new CopyProgress(process.stdout);
  const src = await openSource(parseImageName(from), srcOpts);
  try {
    const dst = await openDestination(parseImageName(to), dstOpts);
    try {
      progress.start();
      await copyImage(src, dst, { ...options, onEvent: progress.onEvent });
    } finally {
      progress.finish();
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

export async function syncCommand(
  source: string,
  destination: string,
  flags: SyncFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  if (!flags.src) throw new UsageError('a source transport must be specified with --src');
  if (!SOURCE_TRANSPORTS.includes(flags.src)) {
    throw new UsageError(`"${flags.src}" is not a valid source transport`, {
      hint: `use one of: ${SOURCE_TRANSPORTS.join(', ')}`,
    });
  }
  if (!flags.dest) throw new UsageError('a destination transport must be specified with --dest');
  if (!DEST_TRANSPORTS.includes(flags.dest)) {
    throw new UsageError(`"${flags.dest}" is not a valid destination transport`, {
      hint: `use one of: ${DEST_TRANSPORTS.join(', ')}`,
    });
  }
  if (flags.src === 'dir' && flags.dest === 'dir') {
    throw new UsageError("sync from 'dir' to 'dir' is not implemented", {
      hint: 'use "skiff-image copy dir:SRC dir:DEST" for each image',
    });
  }
  const format = manifestFormat(flags.format);
  const keep = tagFilter(flags.includeTags, flags.excludeTags);
  const srcRegistry = registrySide('src', flags);
  const destRegistry = registrySide('dest', flags);

  let groups: SourceGroup[];
  if (flags.src === 'docker') groups = await dockerSource(source, srcRegistry, signal);
  else if (flags.src === 'dir') groups = await dirSource(source, srcRegistry);
  else groups = await yamlSource(source, srcRegistry, signal);
  for (const g of groups) g.images = g.images.filter((img) => keep(img.tag));
  groups = groups.filter((g) => g.images.length > 0);

  const dest =
    flags.dest === 'docker'
      ? withoutPrefix(destination, 'docker://')
      : withoutPrefix(destination, 'dir:');
  const common: OpenOptions = { signal, ...(globals.tmpdir ? { tmpDir: globals.tmpdir } : {}) };
  const platform = platformFromGlobals(globals);
  const options: CopyOptions = {
    multiArch: flags.all ? 'all' : 'system',
    signal,
    ...(platform ? { platform } : {}),
    ...(format ? { format } : {}),
    ...(flags.preserveDigests ? { preserveDigests: true } : {}),
    ...(flags.removeSignatures ? { removeSignatures: true } : {}),
  };

  if (flags.dryRun) log('warning', 'Running in dry-run mode');
  let copied = 0;
  let failed = false;
  for (const group of groups) {
    const total = group.images.length;
    for (const [i, img] of group.images.entries()) {
      const target = destinationName(dest, img.suffix, Boolean(flags.scoped));
      const to = flags.dest === 'docker' ? `docker://${target}` : `dir:${path.resolve(target)}`;
      const fields = { from: img.name, to };
      if (flags.dryRun) {
        // Only parse the destination: a dry run reads the sources and writes nothing.
        parseImageName(to);
        log('info', `Would have copied image ref ${i + 1}/${total}`, fields);
        copied++;
        continue;
      }
      log('info', `Copying image ref ${i + 1}/${total}`, fields);
      try {
        if (flags.dest === 'dir' && (await exists(path.resolve(target)))) {
          throw new SkiffError(
            'E_EXISTS',
            `refusing to overwrite destination directory "${path.resolve(target)}"`,
            { hint: 'sync into a new directory, or remove the old copy first' },
          );
        }
        await copyOne(
          img.name,
          to,
          { ...common, ...group.registry },
          { ...common, ...destRegistry },
          options,
        );
      } catch (err) {
        if (signal.aborted || !flags.keepGoing) {
          throw new SkiffError(
            isSkiffError(err) ? err.code : 'E_SYNC_FAILED',
            `copying ref "${img.name}": ${(err as Error).message}`,
            { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
          );
        }
        failed = true;
        log('error', `Error copying ref "${img.name}"`, { error: (err as Error).message });
        continue;
      }
      copied++;
    }
  }
  // skopeo's wording, which scripts grep for.
  const summary = `${copied} images from ${groups.length} sources`;
  log('info', flags.dryRun ? `Would have synced ${summary}` : `Synced ${summary}`);
  if (failed) {
    throw new SkiffError(
      'E_SYNC_FAILED',
      'sync failed due to previous reported error(s) for one or more images',
    );
  }
}
