// What podman shows about a stored image: names split into repository and tag, repo digests,
// the config as podman's inspect JSON shapes it.
import { goMap, Timestamp } from '@skiff/cli-kit';
import { parseReference } from '@skiff/oci-image';
import type { ImageRecord, Store } from '@skiff/storage';

export interface ConfigJson {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  docker_version?: string;
  comment?: string;
  config?: Record<string, unknown> | null;
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: HistoryJson[] | null;
}

export interface HistoryJson {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** "docker.io/library/busybox:1.36" -> repository and tag; a digest-only name has tag <none>. */
export function splitName(name: string): { repository: string; tag: string } {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) {
    return { repository: base.slice(0, colon), tag: at >= 0 ? '<none>' : base.slice(colon + 1) };
  }
  return { repository: base, tag: '<none>' };
}

/** Names that carry a tag, oldest first (podman's RepoTags; the store keeps newest first). */
export function repoTags(img: ImageRecord): string[] {
  return img.names.filter((n) => !n.includes('@')).reverse();
}

/** repository@digest for every name and every manifest digest, sorted (podman's RepoDigests). */
export function repoDigests(img: ImageRecord): string[] {
  const out = new Set<string>();
  for (const name of img.names) {
    const { repository } = splitName(name);
    if (name.includes('@')) out.add(name);
    for (const d of img.digests) out.add(`${repository}@${d}`);
  }
  return [...out].sort();
}

export function readConfig(store: Store, img: ImageRecord): ConfigJson {
  try {
    return JSON.parse(Buffer.from(store.imageConfig(img.id)).toString('utf8')) as ConfigJson;
  } catch {
    return {};
  }
}

export function imageLabels(config: ConfigJson): Record<string, string> | undefined {
  const labels = config.config?.Labels;
  if (labels && typeof labels === 'object' && Object.keys(labels).length > 0) {
    return labels as Record<string, string>;
  }
  return undefined;
}

/** The container config as podman prints it: OCI's fields in OCI's order, empty ones left out. */
function ociConfig(c: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!c) return out;
  const nonEmpty = (v: unknown) =>
    v !== undefined &&
    v !== null &&
    v !== '' &&
    !(Array.isArray(v) && v.length === 0) &&
    !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);
  for (const key of [
    'User',
    'ExposedPorts',
    'Env',
    'Entrypoint',
    'Cmd',
    'Volumes',
    'WorkingDir',
    'Labels',
    'StopSignal',
  ]) {
    const v = c[key];
    if (!nonEmpty(v)) continue;
    out[key] =
      key === 'ExposedPorts' || key === 'Volumes' || key === 'Labels'
        ? goMap({ ...(v as object) })
        : v;
  }
  if (c.ArgsEscaped === true) out.ArgsEscaped = true;
  return out;
}

function historyEntries(config: ConfigJson): Record<string, unknown>[] {
  return (config.history ?? []).map((h) => {
    const e: Record<string, unknown> = {};
    if (h.created) e.created = h.created;
    if (h.created_by) e.created_by = h.created_by;
    if (h.author) e.author = h.author;
    if (h.comment) e.comment = h.comment;
    if (h.empty_layer) e.empty_layer = true;
    return e;
  });
}

/** podman image inspect's JSON for one image. */
export function inspectData(store: Store, img: ImageRecord): Record<string, unknown> {
  const config = readConfig(store, img);
  let annotations: Record<string, string> = {};
  try {
    const m = JSON.parse(Buffer.from(store.imageManifest(img.id).raw).toString('utf8')) as {
      annotations?: Record<string, string>;
    };
    annotations = m.annotations ?? {};
  } catch {
    // A manifest that does not parse has no annotations to show.
  }
  const labels = imageLabels(config);
  const graphData =
    store.driver === 'overlay' && img.topLayer
      ? goMap({
          LowerDir: img.layers
            .slice(0, -1)
            .reverse()
            .map((l) => store.getLayer(l)?.path)
            .filter(Boolean)
            .join(':'),
          UpperDir: store.getLayer(img.topLayer)?.path,
        })
      : null;
  const created = config.created ?? img.created.toISOString();
  return {
    Id: img.id,
    Digest: img.digest,
    RepoTags: repoTags(img),
    RepoDigests: repoDigests(img),
    Parent: '',
    Comment: config.comment ?? config.history?.[0]?.comment ?? '',
    Created: new Timestamp(created),
    Config: ociConfig(config.config),
    Version: config.docker_version ?? '',
    Author: config.author ?? '',
    Architecture: config.architecture ?? '',
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os ?? '',
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: store.driver, Data: graphData },
    RootFS: { Type: config.rootfs?.type ?? 'layers', Layers: config.rootfs?.diff_ids ?? [] },
    Labels: labels ? goMap({ ...labels }) : null,
    Annotations: goMap({ ...annotations }),
    ManifestType: img.manifestMediaType,
    User: (config.config?.User as string | undefined) ?? '',
    History: historyEntries(config),
    NamesHistory: img.names.filter((n) => !n.includes('@')),
  };
}

/** Whether `pattern` (podman's reference filter) matches a stored name. */
export function referenceMatches(pattern: string, name: string): boolean {
  const glob = (p: string) =>
    new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '.')}$`,
    );
  const { repository, tag } = splitName(name);
  const candidates = [name, repository];
  try {
    const ref = parseReference(name);
    const short = ref.domain === 'docker.io' ? ref.path.replace(/^library\//, '') : undefined;
    candidates.push(ref.path, `${ref.path}:${tag}`);
    if (short) candidates.push(short, `${short}:${tag}`);
    const lastPath = ref.path.split('/').pop()!;
    candidates.push(lastPath, `${lastPath}:${tag}`);
  } catch {
    // Not a parseable name: compare as written.
  }
  const re = glob(pattern);
  return candidates.some((c) => re.test(c));
}
