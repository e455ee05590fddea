// skiff images: the stored images, one row per name, with podman's columns, filters and sorts.
import { isJsonFormat, renderJson, renderRows, Timestamp, UsageError } from '@skiff/cli-kit';
import type { ImageRecord, Store } from '@skiff/storage';
import {
  imageLabels,
  readConfig,
  referenceMatches,
  repoDigests,
  repoTags,
  splitName,
} from './image-info.js';
import { type GlobalOptions, withStore } from './options.js';
import { goTime, imageSize, timeAgo } from './units.js';

export interface ImagesFlags {
  all?: boolean;
  quiet?: boolean;
  digests?: boolean;
  noTrunc?: boolean;
  trunc?: boolean;
  filter?: string[];
  sort?: string;
  format?: string;
  noheading?: boolean;
}

const SORT_KEYS = ['created', 'id', 'repository', 'size', 'tag'];

/** One row of `skiff images`: the fields a --format template can use, as podman names them. */
interface ImageRow {
  ID: string;
  Id: string;
  Repository: string;
  Tag: string;
  Digest: string;
  Digests: string[];
  Created: string;
  CreatedAt: string;
  CreatedSince: string;
  CreatedTime: Timestamp;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  Containers: number;
  ReadOnly: boolean;
  Dangling: boolean;
  History: string;
  IsReadOnly: boolean;
  Labels: Record<string, string> | undefined;
  Names: string[];
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
}

interface Entry {
  img: ImageRecord;
  labels: Record<string, string> | undefined;
  repository: string;
  tag: string;
}

type Filter = (e: Entry, all: Entry[], store: Store) => boolean;

function parseBool(key: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`invalid filter ${key}=${value}: expected true or false`);
}

function imageFor(store: Store, spec: string, key: string): ImageRecord {
  const img = store.findImage(spec);
  if (!img) throw new UsageError(`invalid filter ${key}=${spec}: ${spec}: image not known`);
  return img;
}

/** podman's --filter keys. Several values of one key are ORed, different keys ANDed. */
function buildFilters(specs: string[], store: Store): Filter[] {
  const byKey = new Map<string, Filter[]>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq < 0 ? spec : spec.slice(0, eq);
    const value = eq < 0 ? '' : spec.slice(eq + 1);
    let f: Filter;
    switch (key) {
      case 'dangling': {
        const want = parseBool(key, value);
        f = (e) => (e.img.names.length === 0) === want;
        break;
      }
      case 'reference':
        f = (e) => e.img.names.some((n) => referenceMatches(value, n));
        break;
      case 'before': {
        const ref = imageFor(store, value, key);
        f = (e) => e.img.created.getTime() < ref.created.getTime();
        break;
      }
      case 'since': {
        const ref = imageFor(store, value, key);
        f = (e) => e.img.created.getTime() > ref.created.getTime();
        break;
      }
      case 'label': {
        const i = value.indexOf('=');
        const name = i < 0 ? value : value.slice(0, i);
        const want = i < 0 ? undefined : value.slice(i + 1);
        f = (e) =>
          e.labels !== undefined &&
          name in e.labels &&
          (want === undefined || e.labels[name] === want);
        break;
      }
      case 'id':
        f = (e) => e.img.id.startsWith(value.replace(/^sha256:/, ''));
        break;
      case 'digest':
        f = (e) => e.img.digests.includes(value);
        break;
      case 'readonly':
        f = () => !parseBool(key, value);
        break;
      case 'containers': {
        const want = parseBool(key, value);
        f = (e) => e.img.containers > 0 === want;
        break;
      }
      case 'until': {
        const t = Date.parse(value);
        const ms = Number.isNaN(t) ? Date.now() - Number(value) * 1000 : t;
        if (Number.isNaN(ms)) throw new UsageError(`invalid filter until=${value}: not a time`);
        f = (e) => e.img.created.getTime() < ms;
        break;
      }
      case 'intermediate': {
        const want = parseBool(key, value);
        f = (e, all) => isIntermediate(e.img, all) === want;
        break;
      }
      default:
        throw new UsageError(`invalid image filter "${spec}"`, {
          hint: 'filters: before, containers, dangling, digest, id, intermediate, label, readonly, reference, since, until',
        });
    }
    const list = byKey.get(key) ?? [];
    list.push(f);
    byKey.set(key, list);
  }
  return [...byKey.values()].map((fs) => (e, all, st) => fs.some((f) => f(e, all, st)));
}

/** An untagged image whose layers another image builds on (hidden without -a, like podman). */
function isIntermediate(img: ImageRecord, all: Entry[]): boolean {
  if (img.names.length > 0 || img.layers.length === 0) return false;
  const top = img.topLayer;
  return all.some(
    (o) =>
      o.img.id !== img.id && o.img.layers.length > img.layers.length && o.img.layers.includes(top!),
  );
}

function sortEntries(entries: Entry[], key: string): void {
  const cmp: Record<string, (a: Entry, b: Entry) => number> = {
    created: (a, b) => b.img.created.getTime() - a.img.created.getTime(),
    id: (a, b) => (a.img.id < b.img.id ? -1 : a.img.id > b.img.id ? 1 : 0),
    repository: (a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0),
    size: (a, b) => a.img.size - b.img.size,
    tag: (a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0),
  };
  entries.sort(cmp[key]!);
}

function toRow(e: Entry, noTrunc: boolean): ImageRow {
  const id = noTrunc ? `sha256:${e.img.id}` : e.img.id.slice(0, 12);
  return {
    ID: id,
    Id: e.img.id,
    Repository: e.repository,
    Tag: e.tag,
    Digest: e.img.digest,
    Digests: e.img.digests,
    Created: timeAgo(e.img.created),
    CreatedAt: goTime(e.img.created),
    CreatedSince: timeAgo(e.img.created),
    CreatedTime: new Timestamp(e.img.created.toISOString()),
    Size: imageSize(e.img.size),
    VirtualSize: imageSize(e.img.size),
    SharedSize: imageSize(0),
    Containers: e.img.containers,
    ReadOnly: false,
    IsReadOnly: false,
    Dangling: e.img.names.length === 0,
    History: e.img.names.join(', '),
    Labels: e.labels,
    Names: e.img.names,
    ParentId: '',
    RepoTags: repoTags(e.img),
    RepoDigests: repoDigests(e.img),
  };
}

/** podman images --format json: one object per image (not per name). */
function jsonImage(img: ImageRecord, labels: Record<string, string> | undefined) {
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: null,
    RepoDigests: repoDigests(img),
    Size: img.size,
    SharedSize: 0,
    VirtualSize: img.size,
    Labels: labels ?? null,
    Containers: img.containers,
    Names: img.names.length > 0 ? repoTags(img) : undefined,
    Digest: img.digest,
    History: img.names.length > 0 ? img.names : undefined,
    Created: Math.floor(img.created.getTime() / 1000),
    CreatedAt: new Timestamp(img.created.toISOString().replace('.000Z', 'Z')),
  };
}

export async function imagesCommand(
  args: string[],
  flags: ImagesFlags,
  globals: GlobalOptions,
): Promise<void> {
  if (args.length > 1) throw new UsageError('images accepts at most one image name');
  const sort = flags.sort ?? 'created';
  if (!SORT_KEYS.includes(sort)) {
    throw new UsageError(`invalid option for --sort "${sort}"`, {
      hint: `sort by one of ${SORT_KEYS.join(', ')}`,
    });
  }
  const noTrunc = Boolean(flags.noTrunc) || flags.trunc === false;
  await withStore(globals, async (store) => {
    const filters = buildFilters(
      [...(flags.filter ?? []), ...(args[0] ? [`reference=${args[0]}`] : [])],
      store,
    );
    const images = store.listImages();
    const perImage: Entry[] = images.map((img) => ({
      img,
      labels: imageLabels(readConfig(store, img)),
      repository: '<none>',
      tag: '<none>',
    }));
    const hasIntermediateFilter = (flags.filter ?? []).some((f) => f.startsWith('intermediate='));
    const selected = perImage.filter(
      (e) =>
        filters.every((f) => f(e, perImage, store)) &&
        (flags.all || hasIntermediateFilter || !isIntermediate(e.img, perImage)),
    );

    if (isJsonFormat(flags.format)) {
      sortEntries(selected, sort === 'repository' || sort === 'tag' ? 'created' : sort);
      process.stdout.write(`${renderJson(selected.map((e) => jsonImage(e.img, e.labels)))}\n`);
      return;
    }

    // One row per name (repository:tag); <none> <none> for an image without names.
    let rows: Entry[] = [];
    for (const e of selected) {
      const names = repoTags(e.img);
      if (names.length === 0) rows.push(e);
      for (const n of names) rows.push({ ...e, ...splitName(n) });
    }
    sortEntries(rows, sort);
    if (flags.quiet) {
      const seen = new Set<string>();
      rows = rows.filter((r) => !seen.has(r.img.id) && seen.add(r.img.id));
      const ids = rows.map((r) => (noTrunc ? `sha256:${r.img.id}` : r.img.id.slice(0, 12)));
      if (ids.length > 0) process.stdout.write(`${ids.join('\n')}\n`);
      return;
    }
    let format = flags.format;
    let table = true;
    if (format === undefined || format === '' || format === 'table') {
      format = flags.digests
        ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}'
        : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}';
    } else {
      table = format.startsWith('table');
    }
    let out = renderRows(
      format,
      rows.map((r) => toRow(r, noTrunc)),
      { name: 'images', headers: { ID: 'IMAGE ID', Id: 'IMAGE ID', CreatedSince: 'CREATED' } },
    );
    if (table && flags.noheading) out = out.slice(out.indexOf('\n') + 1);
    process.stdout.write(out);
  });
}
