import { goMap, goStruct, renderJson, renderTemplate, Timestamp, UsageError } from '@skiff/cli-kit';
import {
  type Descriptor,
  hostPlatform,
  type ImageConfig,
  type ImageSource,
  isSkiffError,
  normalizePlatform,
  type Platform,
  repositoryName,
  SkiffError,
} from '@skiff/oci-image';
import {
  type ImageName,
  type OpenOptions,
  openSource,
  parseImageName,
  resolveImage,
} from '@skiff/transports';
import { commandRegistryOptions, type GlobalOptions } from './options.js';

export interface InspectOptions {
  raw?: boolean;
  config?: boolean;
  format?: string;
  /** false with --no-tags. */
  tags?: boolean;
  authfile?: string;
  certDir?: string;
  /** false after --no-creds. */
  creds?: string | false;
  username?: string;
  password?: string;
  retryTimes?: string;
  tlsVerify?: boolean;
}

/** The platform --override-os/--override-arch/--override-variant ask for, if any. */
export function platformFromGlobals(globals: GlobalOptions): Platform | undefined {
  if (!globals.overrideOs && !globals.overrideArch && !globals.overrideVariant) return undefined;
  const host = hostPlatform();
  const p: Platform = {
    os: globals.overrideOs ?? host.os,
    architecture: globals.overrideArch ?? host.architecture,
  };
  const variant = globals.overrideVariant ?? (globals.overrideArch ? undefined : host.variant);
  if (variant) p.variant = variant;
  return normalizePlatform(p);
}

function timestamp(value: string | undefined): Timestamp | null {
  return value ? new Timestamp(value) : null;
}

/** skopeo prints the repository name for images that carry a Docker reference. */
function imageNameField(name: ImageName): string {
  return name.reference ? repositoryName(name.reference) : '';
}

function layersData(layers: Descriptor[], forJson: boolean) {
  return layers.map((l) =>
    goStruct('types.ImageInspectLayer', {
      MIMEType: l.mediaType ?? '',
      Digest: l.digest,
      Size: l.size,
      Annotations: l.annotations ? goMap({ ...l.annotations }) : forJson ? null : goMap({}),
    }),
  );
}

/**
 * skopeo's inspect output. JSON and templates see Go's nil differently: JSON prints null for
 * missing labels and env, templates print "map[]" and "[]".
 */
function inspectOutput(
  name: ImageName,
  digest: string,
  layers: Descriptor[],
  config: ImageConfig,
  forJson: boolean,
  repoTags: string[],
) {
  const c = config.config ?? {};
  const labels = c.Labels ? goMap({ ...c.Labels }) : forJson ? null : goMap({});
  const env = c.Env ?? (forJson ? null : []);
  const nameField = imageNameField(name);
  return goStruct('inspectOutput', {
    Name: forJson && nameField === '' ? undefined : nameField,
    Digest: digest,
    RepoTags: repoTags,
    Created: timestamp(config.created),
    DockerVersion: (config as { docker_version?: string }).docker_version ?? '',
    Labels: labels,
    Architecture: config.architecture,
    Os: config.os,
    Layers: layers.map((l) => l.digest),
    LayersData: layersData(layers, forJson),
    Env: env,
  });
}

const keysSorted = (m: Record<string, unknown> | null | undefined) =>
  m ? goMap(Object.fromEntries(Object.keys(m).map((k) => [k, {}]))) : undefined;

/** The config as skopeo prints it with --config: the OCI image struct, Go field order. */
function configJson(config: ImageConfig) {
  const c = config.config ?? {};
  const omitEmpty = <T>(v: T | undefined | null): T | undefined =>
    v === null || v === '' || (Array.isArray(v) && v.length === 0) ? undefined : (v ?? undefined);
  const labels = c.Labels && Object.keys(c.Labels).length > 0 ? goMap({ ...c.Labels }) : undefined;
  return {
    created: config.created ? new Timestamp(config.created) : undefined,
    author: omitEmpty(config.author),
    architecture: config.architecture,
    variant: omitEmpty(config.variant),
    os: config.os,
    'os.version': omitEmpty(config['os.version']),
    'os.features': omitEmpty(config['os.features']),
    config: {
      User: omitEmpty(c.User),
      ExposedPorts: keysSorted(c.ExposedPorts as Record<string, unknown> | undefined),
      Env: omitEmpty(c.Env),
      Entrypoint: omitEmpty(c.Entrypoint),
      Cmd: omitEmpty(c.Cmd),
      Volumes: keysSorted(c.Volumes as Record<string, unknown> | undefined),
      WorkingDir: omitEmpty(c.WorkingDir),
      Labels: labels,
      StopSignal: omitEmpty(c.StopSignal),
      ArgsEscaped: (c as { ArgsEscaped?: boolean }).ArgsEscaped || undefined,
    },
    rootfs: { type: config.rootfs.type, diff_ids: config.rootfs.diff_ids },
    history: omitEmpty(
      (config.history ?? []).map((h) => ({
        created: h.created ? new Timestamp(h.created) : undefined,
        created_by: omitEmpty(h.created_by),
        author: omitEmpty(h.author),
        comment: omitEmpty(h.comment),
        empty_layer: h.empty_layer || undefined,
      })),
    ),
  };
}

/** The config with Go's field names, for --config --format templates ({{.OS}}, {{.Config.Env}}). */
function configTemplateView(config: ImageConfig) {
  const c = config.config ?? {};
  const strMap = (m: Record<string, string> | null | undefined) => goMap({ ...(m ?? {}) });
  return goStruct('v1.Image', {
    Created: timestamp(config.created),
    Author: config.author ?? '',
    Architecture: config.architecture,
    Variant: config.variant ?? '',
    OS: config.os,
    OSVersion: config['os.version'] ?? '',
    OSFeatures: config['os.features'] ?? [],
    Config: goStruct('v1.ImageConfig', {
      User: c.User ?? '',
      ExposedPorts: keysSorted(c.ExposedPorts as Record<string, unknown> | undefined) ?? goMap({}),
      Env: c.Env ?? [],
      Entrypoint: c.Entrypoint ?? [],
      Cmd: c.Cmd ?? [],
      Volumes: keysSorted(c.Volumes as Record<string, unknown> | undefined) ?? goMap({}),
      WorkingDir: c.WorkingDir ?? '',
      Labels: strMap(c.Labels),
      StopSignal: c.StopSignal ?? '',
      ArgsEscaped: Boolean((c as { ArgsEscaped?: boolean }).ArgsEscaped),
    }),
    RootFS: goStruct('v1.RootFS', { Type: config.rootfs.type, DiffIDs: config.rootfs.diff_ids }),
    History: (config.history ?? []).map((h) =>
      goStruct('v1.History', {
        Created: timestamp(h.created),
        CreatedBy: h.created_by ?? '',
        Author: h.author ?? '',
        Comment: h.comment ?? '',
        EmptyLayer: Boolean(h.empty_layer),
      }),
    ),
  });
}

/**
 * The repository's tags for RepoTags (registry images only). A registry that refuses to list
 * tags (denied, or no such endpoint) is not a reason to fail the inspect, as with skopeo.
 */
async function repositoryTags(
  name: ImageName,
  src: ImageSource,
  signal: AbortSignal,
): Promise<string[]> {
  const listing = src as ImageSource & { listTags?: (signal?: AbortSignal) => Promise<string[]> };
  if (name.transport !== 'docker' || typeof listing.listTags !== 'function') return [];
  try {
    return await listing.listTags(signal);
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (isSkiffError(err, 'E_DENIED') || status === 404) {
      process.stderr.write(
        'Warning: the registry does not allow listing tags; skipping RepoTags\n',
      );
      return [];
    }
    throw new SkiffError(
      isSkiffError(err) ? err.code : 'E_REGISTRY',
      `determining repository tags: ${(err as Error).message}`,
      { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
    );
  }
}

export async function inspectImage(
  image: string,
  opts: InspectOptions,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  if (opts.raw && opts.format !== undefined) {
    throw new UsageError('raw output does not support format option');
  }
  const name = parseImageName(image);
  const openOptions: OpenOptions = {
    signal,
    ...(globals.tmpdir ? { tmpDir: globals.tmpdir } : {}),
    ...commandRegistryOptions(opts),
  };
  const src = await openSource(name, openOptions);
  try {
    const out = process.stdout;
    if (opts.raw && !opts.config) {
      // The manifest exactly as stored: its digest is what registries and skopeo report.
      const m = await src.getManifest(undefined, signal);
      out.write(m.raw);
      return;
    }
    const platform = platformFromGlobals(globals);
    const resolved = await resolveImage(src, { signal, ...(platform ? { platform } : {}) });
    if (opts.config) {
      if (opts.raw) out.write(resolved.configRaw);
      else if (opts.format !== undefined) {
        out.write(
          renderTemplate(opts.format, configTemplateView(resolved.config), {
            name: 'skiff-image inspect',
          }),
        );
      } else out.write(`${renderJson(configJson(resolved.config))}\n`);
      return;
    }
    const digest = resolved.top.digest;
    const layers = resolved.image.layers;
    const tags = opts.tags === false ? [] : await repositoryTags(name, src, signal);
    if (opts.format !== undefined) {
      const view = inspectOutput(name, digest, layers, resolved.config, false, tags);
      out.write(renderTemplate(opts.format, view, { name: 'skiff-image inspect' }));
    } else {
      const view = inspectOutput(name, digest, layers, resolved.config, true, tags);
      out.write(`${renderJson(view)}\n`);
    }
  } finally {
    await src.close();
  }
}
