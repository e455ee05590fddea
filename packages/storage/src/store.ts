import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, createLayer } from '@skiff/archive';
import {
  digestOf,
  ErrorCode,
  formatReference,
  isShortName,
  normalizeReference,
  parseImageConfig,
  parseManifest,
  parseReference,
  type RawManifest,
  SkiffError,
} from '@skiff/oci-image';
import { isRoot } from '@skiff/sys';
import type { LayerInput, Store, StoreEvent, StoreWriter } from './api.js';
import { BlobStore } from './blobs.js';
import { type Db, openDatabase } from './db.js';
import {
  diskUsage,
  isLeftover,
  removeTree,
  sleep,
  syncFileSystem,
  tempName,
  throwIfAborted,
} from './fsutil.js';
import { isMounted, mountOverlay, mountPoints, overlaySupported, unmount } from './mount.js';
import { checkDriver, StorageErrorCode } from './options.js';
import { processAlive, selfProcess } from './process.js';
import type {
  CommitImageOptions,
  ContainerRecord,
  CreateContainerOptions,
  DiskUsage,
  GcResult,
  ImageRecord,
  LayerInfo,
  RemoveImageResult,
  StorageDriver,
  StoredBlobStream,
  StoreOptions,
} from './types.js';

const HEX64 = /^[0-9a-f]{64}$/;

interface LayerRow {
  id: string;
  parent: string | null;
  diff_id: string | null;
  compressed_digest: string | null;
  compressed_size: number | null;
  size: number;
  created: number;
  kind: 'image' | 'container';
  state: 'extracting' | 'ready';
  owner: string | null;
}

interface ImageRow {
  id: string;
  digest: string;
  manifest_media_type: string;
  created: number;
  stored: number;
  size: number;
  top_layer: string | null;
  metadata: string;
}

interface ContainerRow {
  id: string;
  name: string;
  image_id: string;
  layer_id: string;
  created: number;
  config: string;
  state: string;
}

/** ChainID as the OCI image spec defines it, as hex: sha256 of "parentChainID diffID". */
export function chainIdOf(parent: string | undefined, diffId: string): string {
  if (parent === undefined) return diffId.slice(diffId.indexOf(':') + 1);
  return createHash('sha256').update(`sha256:${parent} ${diffId}`).digest('hex');
}

/** The chain ids (hex) of a list of diff ids, base layer first. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | undefined;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

/** The full name a tag gets: short names without a registry go to localhost/, as podman tags. */
export function normalizeImageName(name: string, shortDomain = 'localhost'): string {
  const ref = normalizeReference(name);
  if (isShortName(name) && shortDomain !== 'docker.io') {
    ref.domain = shortDomain;
    const p = ref.path;
    if (p.startsWith('library/') && !name.startsWith('library/')) {
      ref.path = p.slice('library/'.length);
    }
  }
  return formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag });
}

/** The repository part as written ("busybox", "library/busybox") and tag of a short name. */
function splitWritten(spec: string): { name: string; tag: string | undefined } {
  let rest = spec;
  const at = rest.indexOf('@');
  if (at >= 0) rest = rest.slice(0, at);
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1) };
  return { name: rest, tag: undefined };
}

function repoOf(name: string): string {
  const r = parseReference(name);
  return `${r.domain}/${r.path}`;
}

function notFound(spec: string): SkiffError {
  return new SkiffError(StorageErrorCode.ImageNotFound, `${spec}: image not known`, {
    hint: 'list images with `skiff images`, or pull it first',
  });
}

export class LocalStore implements Store {
  readonly root: string;
  readonly runroot: string;
  readonly driver: StorageDriver;
  readonly rootless: boolean;
  readonly db: Db;
  readonly blobs: BlobStore;
  readonly options: StoreOptions;
  private closed = false;
  private readonly inProcessMounts = new Map<string, Promise<string>>();

  constructor(opts: StoreOptions) {
    this.options = opts;
    this.root = path.resolve(opts.root);
    this.runroot = path.resolve(opts.runroot);
    this.rootless = opts.rootless ?? !isRoot();
    for (const d of ['', 'blobs', 'layers', 'tmp', 'containers', 'empty']) {
      fs.mkdirSync(path.join(this.root, d), { recursive: true, mode: 0o700 });
    }
    fs.mkdirSync(path.join(this.runroot, 'mounts'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(this.runroot, 'containers'), { recursive: true, mode: 0o700 });
    this.db = openDatabase(path.join(this.root, 'storage.db'), opts.busyTimeoutMs ?? 30_000);
    this.blobs = new BlobStore(
      path.join(this.root, 'blobs'),
      path.join(this.root, 'tmp'),
      opts.fsync ?? true,
    );
    try {
      this.driver = this.chooseDriver(opts.driver);
      this.recover();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  private chooseDriver(wanted: StorageDriver | undefined): StorageDriver {
    const envDriver = process.env.SKIFF_STORAGE_DRIVER;
    const want = wanted ?? (envDriver ? checkDriver(envDriver, 'SKIFF_STORAGE_DRIVER') : undefined);
    return this.tx(() => {
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'driver'").get() as
        | { value: string }
        | undefined;
      if (row) {
        if (want && want !== row.value) {
          throw new SkiffError(
            StorageErrorCode.Driver,
            `the store at ${this.root} uses the ${row.value} driver, not ${want}`,
            {
              hint: `use --storage-driver ${row.value}, or \`skiff system reset\` to start over with ${want}`,
            },
          );
        }
        return row.value as StorageDriver;
      }
      const d = want ?? (!this.rootless && overlaySupported() ? 'overlay' : 'vfs');
      this.db.prepare("INSERT INTO meta(key, value) VALUES ('driver', ?)").run(d);
      return d;
    });
  }

  /** Runs `fn` in an immediate (write-locked) transaction. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private layerDir(id: string): string {
    return path.join(this.root, 'layers', id);
  }

  private layerDiff(id: string): string {
    return path.join(this.root, 'layers', id, 'diff');
  }

  private tmpPath(kind: string): string {
    return path.join(this.root, 'tmp', tempName(kind));
  }

  /** Moves a directory out of sight inside a transaction; the caller deletes it afterwards. */
  private trash(p: string, trashed: string[]): void {
    const to = this.tmpPath('trash');
    try {
      fs.renameSync(p, to);
      trashed.push(to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  // ---------------------------------------------------------------- recovery and gc

  /** Forgets leases of dead processes and the layer claims they held. In a transaction. */
  private dropDeadLeases(trashed: string[]): number {
    let n = 0;
    const leases = this.db.prepare('SELECT id, pid, start FROM leases').all() as {
      id: string;
      pid: number;
      start: string;
    }[];
    for (const l of leases) {
      if (processAlive(l.pid, l.start)) continue;
      this.db.prepare('DELETE FROM leases WHERE id = ?').run(l.id);
      n++;
    }
    // Half-extracted layers whose extractor is gone: the directory (if renamed) is not trusted.
    const orphans = this.db
      .prepare(
        "SELECT id FROM layers WHERE state = 'extracting' AND (owner IS NULL OR owner NOT IN (SELECT id FROM leases))",
      )
      .all() as { id: string }[];
    for (const o of orphans) {
      this.db.prepare('DELETE FROM layers WHERE id = ?').run(o.id);
      this.trash(this.layerDir(o.id), trashed);
      n++;
    }
    return n;
  }

  /** Temp files and directories of processes that are gone. */
  private removeLeftoverTemps(): number {
    const tmp = path.join(this.root, 'tmp');
    let n = 0;
    for (const name of fs.readdirSync(tmp)) {
      if (!isLeftover(name)) continue;
      fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  /** The cheap check every open does: leftovers of dead processes go. */
  private recover(): void {
    const trashed: string[] = [];
    const hasLeases = this.db.prepare('SELECT 1 FROM leases LIMIT 1').get() !== undefined;
    const hasExtracting =
      this.db.prepare("SELECT 1 FROM layers WHERE state = 'extracting' LIMIT 1").get() !==
      undefined;
    if (hasLeases || hasExtracting) this.tx(() => this.dropDeadLeases(trashed));
    for (const t of trashed) fs.rmSync(t, { recursive: true, force: true });
    this.removeLeftoverTemps();
  }

  /** Deletes unreferenced layers, iterating to parents. In a transaction; dirs go to `trashed`. */
  /** @internal */
  sweepLayers(candidates: string[] | undefined, trashed: string[]): string[] {
    const removed: string[] = [];
    const unreferenced = this.db.prepare(
      `SELECT id, parent FROM layers l WHERE state = 'ready' AND (? IS NULL OR id = ?)
        AND NOT EXISTS (SELECT 1 FROM image_layers WHERE layer_id = l.id)
        AND NOT EXISTS (SELECT 1 FROM lease_layers WHERE layer_id = l.id)
        AND NOT EXISTS (SELECT 1 FROM containers WHERE layer_id = l.id)
        AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.id)`,
    );
    let queue: (string | null)[] = candidates ?? [null];
    while (queue.length > 0) {
      const next: (string | null)[] = [];
      for (const c of queue) {
        const rows = unreferenced.all(c, c) as { id: string; parent: string | null }[];
        for (const r of rows) {
          const mp = this.mountPath(r.id);
          if (isMounted(mp)) continue;
          this.db.prepare('DELETE FROM layers WHERE id = ?').run(r.id);
          this.trash(this.layerDir(r.id), trashed);
          removed.push(r.id);
          if (r.parent) next.push(r.parent);
        }
        if (c === null && rows.length > 0) next.push(null);
      }
      queue = [...new Set(next)];
    }
    return removed;
  }

  /** Deletes unreferenced blob files. In a transaction (so no writer can race it). */
  /** @internal */
  sweepBlobs(candidates: string[] | undefined): string[] {
    const removed: string[] = [];
    const used = this.db.prepare(
      'SELECT 1 FROM image_blobs WHERE digest = ? UNION ALL SELECT 1 FROM lease_blobs WHERE digest = ? LIMIT 1',
    );
    for (const d of candidates ?? this.blobs.list()) {
      if (used.get(d, d) !== undefined) continue;
      if (!this.blobs.has(d)) continue;
      this.blobs.remove(d);
      removed.push(d);
    }
    return removed;
  }

  async gc(): Promise<GcResult> {
    const trashed: string[] = [];
    let leftovers = 0;
    const { layers, blobs } = this.tx(() => {
      leftovers += this.dropDeadLeases(trashed);
      const layers = this.sweepLayers(undefined, trashed);
      // Layer directories no row describes (a crash between rename and insert cannot make
      // one, but a copy restored by hand can).
      const known = new Set(
        (this.db.prepare('SELECT id FROM layers').all() as { id: string }[]).map((r) => r.id),
      );
      for (const name of fs.readdirSync(path.join(this.root, 'layers'))) {
        if (!known.has(name)) {
          this.trash(this.layerDir(name), trashed);
          leftovers++;
        }
      }
      const blobs = this.sweepBlobs(undefined);
      return { layers, blobs };
    });
    for (const t of trashed) await removeTree(t);
    leftovers += this.removeLeftoverTemps();
    // Mount points of things that no longer exist.
    for (const name of fs.readdirSync(path.join(this.runroot, 'mounts'))) {
      const p = path.join(this.runroot, 'mounts', name);
      if (!isMounted(p) && !this.db.prepare('SELECT 1 FROM mounts WHERE id = ?').get(name)) {
        fs.rmSync(p, { recursive: true, force: true });
      }
    }
    return { removedLayers: layers, removedBlobs: blobs, removedLeftovers: leftovers };
  }

  check(): string[] {
    const problems: string[] = [];
    const images = this.db.prepare('SELECT * FROM images').all() as ImageRow[];
    for (const img of images) {
      const layers = this.imageLayerRows(img.id);
      let parent: string | undefined;
      for (const l of layers) {
        const row = this.db.prepare('SELECT * FROM layers WHERE id = ?').get(l.layer_id) as
          | LayerRow
          | undefined;
        const want = chainIdOf(parent, l.diff_id);
        if (want !== l.layer_id) {
          problems.push(`image ${img.id}: layer ${l.idx} is ${l.layer_id}, chain id says ${want}`);
        }
        if (!row) problems.push(`image ${img.id}: layer ${l.layer_id} is missing`);
        else if (row.state !== 'ready') {
          problems.push(`image ${img.id}: layer ${l.layer_id} is not complete (${row.state})`);
        } else if (!fs.existsSync(this.layerDiff(l.layer_id))) {
          problems.push(`image ${img.id}: layer ${l.layer_id} has no directory`);
        } else if (row.diff_id !== l.diff_id) {
          problems.push(`image ${img.id}: layer ${l.layer_id} has diff id ${row.diff_id}`);
        }
        parent = l.layer_id;
      }
      if (!this.blobs.has(`sha256:${img.id}`)) problems.push(`image ${img.id}: config missing`);
      if (!this.blobs.has(img.digest)) {
        problems.push(`image ${img.id}: manifest ${img.digest} missing`);
      }
    }
    const containers = this.db.prepare('SELECT * FROM containers').all() as ContainerRow[];
    for (const c of containers) {
      if (
        !this.db.prepare("SELECT 1 FROM layers WHERE id = ? AND state = 'ready'").get(c.layer_id)
      ) {
        problems.push(`container ${c.id}: rw layer ${c.layer_id} is missing`);
      }
    }
    return problems;
  }

  async repair(): Promise<{ problems: string[]; gc: GcResult }> {
    const problems = this.check();
    // An image whose layers are gone cannot be used: forget it (its blobs may remain for a re-pull).
    const broken = new Set(
      problems.map((p) => /^image ([0-9a-f]{64})/.exec(p)?.[1]).filter((x): x is string => !!x),
    );
    for (const id of broken) {
      this.tx(() => this.db.prepare('DELETE FROM images WHERE id = ?').run(id));
    }
    return { problems, gc: await this.gc() };
  }

  // ---------------------------------------------------------------- images

  private imageLayerRows(id: string) {
    return this.db
      .prepare('SELECT idx, layer_id, diff_id FROM image_layers WHERE image_id = ? ORDER BY idx')
      .all(id) as { idx: number; layer_id: string; diff_id: string }[];
  }

  private toImage(row: ImageRow): ImageRecord {
    const names = (
      this.db
        .prepare('SELECT name FROM image_names WHERE image_id = ? ORDER BY added DESC, name')
        .all(row.id) as { name: string }[]
    ).map((r) => r.name);
    const digests = (
      this.db
        .prepare('SELECT digest FROM image_manifests WHERE image_id = ? ORDER BY added')
        .all(row.id) as { digest: string }[]
    ).map((r) => r.digest);
    const ordered = [row.digest, ...digests.filter((d) => d !== row.digest)];
    const layers = this.imageLayerRows(row.id);
    const containers = (
      this.db.prepare('SELECT COUNT(*) AS n FROM containers WHERE image_id = ?').get(row.id) as {
        n: number;
      }
    ).n;
    return {
      id: row.id,
      configDigest: `sha256:${row.id}`,
      names,
      digests: ordered,
      digest: row.digest,
      manifestMediaType: row.manifest_media_type,
      created: new Date(row.created),
      stored: new Date(row.stored),
      size: row.size,
      layers: layers.map((l) => l.layer_id),
      diffIds: layers.map((l) => l.diff_id),
      topLayer: row.top_layer ?? undefined,
      containers,
      metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    };
  }

  listImages(): ImageRecord[] {
    const rows = this.db.prepare('SELECT * FROM images ORDER BY stored DESC').all() as ImageRow[];
    return rows.map((r) => this.toImage(r));
  }

  getImage(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as
      | ImageRow
      | undefined;
    return row ? this.toImage(row) : undefined;
  }

  private imageIdsByName(name: string): string[] {
    const r = this.db.prepare('SELECT image_id FROM image_names WHERE name = ?').get(name) as
      | { image_id: string }
      | undefined;
    return r ? [r.image_id] : [];
  }

  private ambiguous(spec: string, ids: string[], names?: string[]): SkiffError {
    return new SkiffError(
      StorageErrorCode.AmbiguousImage,
      `${spec} matches several images: ${(names ?? ids.map((i) => i.slice(0, 12))).join(', ')}`,
      { hint: 'use a full name or a longer id' },
    );
  }

  findImage(spec: string): ImageRecord | undefined {
    const s = spec.startsWith('sha256:') && HEX64.test(spec.slice(7)) ? spec : spec.trim();
    if (HEX64.test(s)) return this.getImage(s);
    if (s.startsWith('sha256:') && HEX64.test(s.slice(7))) {
      const byId = this.getImage(s.slice(7));
      if (byId) return byId;
      const byDigest = this.db
        .prepare('SELECT DISTINCT image_id FROM image_manifests WHERE digest = ?')
        .all(s) as { image_id: string }[];
      if (byDigest.length > 1)
        throw this.ambiguous(
          spec,
          byDigest.map((r) => r.image_id),
        );
      return byDigest[0] ? this.getImage(byDigest[0].image_id) : undefined;
    }
    let ref: ReturnType<typeof parseReference> | undefined;
    try {
      ref = parseReference(s);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const short = isShortName(s);
      const written = splitWritten(s);
      if (ref.digest !== undefined) {
        const rows = this.db
          .prepare('SELECT DISTINCT image_id FROM image_manifests WHERE digest = ?')
          .all(ref.digest) as { image_id: string }[];
        const matches = rows.filter((r) => {
          const names = this.imageNames(r.image_id);
          return names.some((n) => {
            const repo = repoOf(n);
            return short
              ? repo === `${ref.domain}/${ref.path}` || repo.endsWith(`/${written.name}`)
              : repo === `${ref.domain}/${ref.path}`;
          });
        });
        if (matches.length > 1)
          throw this.ambiguous(
            spec,
            matches.map((m) => m.image_id),
          );
        if (matches[0]) return this.getImage(matches[0].image_id);
        // A digest the image was pulled by is enough when no name contradicts it.
        if (rows.length === 1 && this.imageNames(rows[0]!.image_id).length === 0) {
          return this.getImage(rows[0]!.image_id);
        }
        return undefined;
      }
      const full = formatReference(normalizeReference(ref));
      const exact = this.imageIdsByName(full);
      if (!short && exact[0]) return this.getImage(exact[0]);
      if (short) {
        const tag = written.tag ?? 'latest';
        const all = this.db.prepare('SELECT name, image_id FROM image_names').all() as {
          name: string;
          image_id: string;
        }[];
        const hits = all.filter((r) => {
          const n = parseReference(r.name);
          return n.tag === tag && `${n.domain}/${n.path}`.endsWith(`/${written.name}`);
        });
        const ids = [...new Set(hits.map((h) => h.image_id))];
        if (ids.length === 1) return this.getImage(ids[0]!);
        if (ids.length > 1) {
          // podman prefers what `localhost/` holds, then Docker Hub's normalization.
          const local = hits.filter((h) => h.name.startsWith('localhost/'));
          if (new Set(local.map((h) => h.image_id)).size === 1)
            return this.getImage(local[0]!.image_id);
          if (exact[0]) return this.getImage(exact[0]);
          throw this.ambiguous(
            spec,
            ids,
            hits.map((h) => h.name),
          );
        }
      }
    }
    // An id prefix (names win over prefixes, as in containers/storage).
    if (/^[0-9a-f]{3,63}$/.test(s)) {
      const rows = this.db
        .prepare('SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2')
        .all(s, `${s}g`) as { id: string }[];
      if (rows.length > 1)
        throw this.ambiguous(
          spec,
          rows.map((r) => r.id),
        );
      if (rows[0]) return this.getImage(rows[0].id);
    }
    return undefined;
  }

  lookupImage(spec: string): ImageRecord {
    const img = this.findImage(spec);
    if (!img) throw notFound(spec);
    return img;
  }

  private imageNames(id: string): string[] {
    return (
      this.db.prepare('SELECT name FROM image_names WHERE image_id = ?').all(id) as {
        name: string;
      }[]
    ).map((r) => r.name);
  }

  private requireImage(id: string): ImageRow {
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as
      | ImageRow
      | undefined;
    if (!row) throw notFound(id);
    return row;
  }

  imageConfig(id: string): Uint8Array {
    this.requireImage(id);
    const p = this.blobs.path(`sha256:${id}`);
    const data = new Uint8Array(fs.readFileSync(p));
    if (digestOf(data) !== `sha256:${id}`) {
      throw new SkiffError(StorageErrorCode.Corrupt, `config of image ${id} is corrupt`);
    }
    return data;
  }

  imageManifest(id: string, digest?: string): RawManifest {
    const row = this.requireImage(id);
    const d = digest ?? row.digest;
    const m = this.db
      .prepare('SELECT media_type FROM image_manifests WHERE image_id = ? AND digest = ?')
      .get(id, d) as { media_type: string } | undefined;
    if (!m) {
      throw new SkiffError(ErrorCode.ManifestUnknown, `image ${id} has no manifest ${d}`);
    }
    const raw = new Uint8Array(fs.readFileSync(this.blobs.path(d)));
    if (digestOf(raw) !== d) {
      throw new SkiffError(StorageErrorCode.Corrupt, `manifest ${d} of image ${id} is corrupt`);
    }
    return { raw, mediaType: m.media_type };
  }

  tagImage(id: string, name: string): string {
    const full = normalizeImageName(name);
    this.tx(() => {
      this.requireImage(id);
      this.db.prepare('DELETE FROM image_names WHERE name = ?').run(full);
      this.db
        .prepare('INSERT INTO image_names(name, image_id, added) VALUES (?, ?, ?)')
        .run(full, id, Date.now());
    });
    return full;
  }

  untagImage(id: string, name?: string): string[] {
    return this.tx(() => {
      this.requireImage(id);
      const names = this.imageNames(id);
      let remove: string[];
      if (name === undefined) remove = names;
      else {
        const candidates = [normalizeImageName(name), normalizeImageName(name, 'docker.io')];
        let ref: string | undefined;
        try {
          ref = formatReference(normalizeReference(name));
        } catch {
          ref = undefined;
        }
        if (ref) candidates.push(ref);
        remove = names.filter((n) => candidates.includes(n));
        if (remove.length === 0) {
          throw new SkiffError(
            StorageErrorCode.ImageNotFound,
            `image ${id.slice(0, 12)} is not tagged ${name}`,
          );
        }
      }
      for (const n of remove) this.db.prepare('DELETE FROM image_names WHERE name = ?').run(n);
      return remove;
    });
  }

  setImageMetadata(id: string, metadata: Record<string, unknown>): void {
    this.tx(() => {
      this.requireImage(id);
      this.db
        .prepare('UPDATE images SET metadata = ? WHERE id = ?')
        .run(JSON.stringify(metadata), id);
    });
  }

  async removeImage(id: string, opts: { force?: boolean } = {}): Promise<RemoveImageResult> {
    const row = this.requireImage(id);
    const users = this.db.prepare('SELECT id, name FROM containers WHERE image_id = ?').all(id) as {
      id: string;
      name: string;
    }[];
    if (users.length > 0 && !opts.force) {
      throw new SkiffError(
        StorageErrorCode.ImageInUse,
        `image ${id.slice(0, 12)} is in use by ${users.length} container(s): ${users.map((u) => u.name).join(', ')}`,
        { hint: 'remove the containers first, or use --force' },
      );
    }
    const removedContainers: string[] = [];
    for (const u of users) {
      await this.removeContainer(u.id);
      removedContainers.push(u.id);
    }
    await this.unmountImage(id).catch(() => {});
    const trashed: string[] = [];
    const untagged = this.tx(() => {
      const names = this.imageNames(id);
      const layers = this.imageLayerRows(id).map((l) => l.layer_id);
      const blobs = (
        this.db.prepare('SELECT digest FROM image_blobs WHERE image_id = ?').all(id) as {
          digest: string;
        }[]
      ).map((r) => r.digest);
      // Checked again inside the transaction: a container may have appeared meanwhile.
      if (this.db.prepare('SELECT 1 FROM containers WHERE image_id = ?').get(id)) {
        throw new SkiffError(StorageErrorCode.ImageInUse, `image ${id.slice(0, 12)} is in use`);
      }
      this.db.prepare('DELETE FROM images WHERE id = ?').run(row.id);
      this.sweepLayers(layers.reverse(), trashed);
      this.sweepBlobs(blobs);
      return names;
    });
    for (const t of trashed) await removeTree(t);
    return { untagged, deleted: [id], removedContainers };
  }

  async pruneImages(opts: { all?: boolean } = {}): Promise<{
    removed: string[];
    reclaimedBytes: number;
  }> {
    const before = await this.df();
    const removed: string[] = [];
    // Removing one image can make another dangling only through names, so one pass suffices.
    for (const img of this.listImages()) {
      if (img.containers > 0) continue;
      if (!opts.all && img.names.length > 0) continue;
      await this.removeImage(img.id);
      removed.push(img.id);
    }
    await this.gc();
    const after = await this.df();
    return { removed, reclaimedBytes: Math.max(0, before.totals.all - after.totals.all) };
  }

  // ---------------------------------------------------------------- layers and blobs

  private toLayer(r: LayerRow): LayerInfo {
    return {
      id: r.id,
      parent: r.parent ?? undefined,
      diffId: r.diff_id ?? undefined,
      compressedDigest: r.compressed_digest ?? undefined,
      compressedSize: r.compressed_size ?? undefined,
      size: r.size,
      created: new Date(r.created),
      kind: r.kind,
      path: this.layerDiff(r.id),
    };
  }

  listLayers(): LayerInfo[] {
    const rows = this.db
      .prepare("SELECT * FROM layers WHERE state = 'ready' ORDER BY created")
      .all() as LayerRow[];
    return rows.map((r) => this.toLayer(r));
  }

  getLayer(id: string): LayerInfo | undefined {
    const r = this.db.prepare("SELECT * FROM layers WHERE id = ? AND state = 'ready'").get(id) as
      | LayerRow
      | undefined;
    return r ? this.toLayer(r) : undefined;
  }

  hasBlob(digest: string, size?: number): boolean {
    return this.blobs.has(digest, size);
  }

  openBlob(digest: string): StoredBlobStream {
    return this.blobs.open(digest);
  }

  blobPath(digest: string): string {
    return this.blobs.path(digest);
  }

  beginWrite(opts: { onEvent?: (e: StoreEvent) => void } = {}): StoreWriter {
    return new Writer(this, opts.onEvent);
  }

  /** Extracts a layer into a temp directory (overlay whiteouts) and returns diff id and size. */
  async extractLayer(
    input: Readable,
    diffId: string,
    signal?: AbortSignal,
    sync = true,
  ): Promise<{ tmp: string; size: number }> {
    const tmp = this.tmpPath('layer');
    try {
      const res = await applyLayer(input, path.join(tmp, 'diff'), {
        whiteouts: 'overlay',
        rootless: this.rootless,
        ...(this.options.idMap ? { idMap: this.options.idMap } : {}),
        ...(signal ? { signal } : {}),
      });
      if (res.diffId !== diffId) {
        throw new SkiffError(
          ErrorCode.DigestMismatch,
          `layer diff id mismatch: the config says ${diffId}, the layer's content is ${res.diffId}`,
          { hint: 'the image is corrupt; nothing was kept' },
        );
      }
      if (sync) await this.syncLayers();
      return { tmp, size: res.size };
    } catch (err) {
      await removeTree(tmp);
      throw err;
    }
  }

  /**
   * Flushes extracted layers (syncfs of the store's file system) before they are marked ready,
   * so that a crash never leaves a ready layer with lost content. Spawning `sync -f` is the
   * expensive part: callers batch layers and flush once.
   */
  async syncLayers(): Promise<void> {
    if (this.options.fsync ?? true) await syncFileSystem(path.join(this.root, 'tmp'));
  }

  /** Moves an extracted temp dir into place as layer `id`. */
  placeLayer(tmp: string, id: string): void {
    const dir = this.layerDir(id);
    // A previous owner that died after its rename left an untrusted copy: replace it.
    if (fs.existsSync(dir)) {
      const trashed: string[] = [];
      this.trash(dir, trashed);
      for (const t of trashed) fs.rmSync(t, { recursive: true, force: true });
    }
    fs.renameSync(tmp, dir);
  }

  // ---------------------------------------------------------------- mounts

  private mountPath(id: string): string {
    return path.join(this.runroot, 'mounts', id);
  }

  /** Lower directories (relative to root/layers) for an overlay of `layerIds` (base first). */
  private lowerDirs(layerIds: string[]): string[] {
    return [...layerIds].reverse().map((id) => `${id}/diff`);
  }

  /** Applies layers in order into `target` (vfs): each layer re-read as a tar, whiteouts applied. */
  private async materialize(layerIds: string[], target: string, signal?: AbortSignal) {
    fs.mkdirSync(target, { recursive: true });
    for (const id of layerIds) {
      throwIfAborted(signal);
      const tar = createLayer(this.layerDiff(id), {
        source: 'overlay-upper',
        ...(signal ? { signal } : {}),
      });
      await applyLayer(tar, target, { whiteouts: 'apply', ...(signal ? { signal } : {}) });
    }
  }

  private bumpMount(id: string, p: string, delta: number): number {
    return this.tx(() => {
      const row = this.db.prepare('SELECT count FROM mounts WHERE id = ?').get(id) as
        | { count: number }
        | undefined;
      const n = Math.max(0, (row?.count ?? 0) + delta);
      if (n === 0) this.db.prepare('DELETE FROM mounts WHERE id = ?').run(id);
      else {
        this.db
          .prepare(
            'INSERT INTO mounts(id, path, count) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET count = excluded.count, path = excluded.path',
          )
          .run(id, p, n);
      }
      return n;
    });
  }

  private serialize(id: string, fn: () => Promise<string>): Promise<string> {
    const prev = this.inProcessMounts.get(id) ?? Promise.resolve('');
    const next = prev.catch(() => '').then(fn);
    this.inProcessMounts.set(id, next);
    return next;
  }

  async mountImage(id: string, signal?: AbortSignal): Promise<string> {
    const img = this.getImage(id);
    if (!img) throw notFound(id);
    return this.serialize(id, async () => {
      const target = this.mountPath(id);
      if (this.driver === 'overlay') {
        if (!isMounted(target)) {
          fs.mkdirSync(target, { recursive: true });
          const lower = this.lowerDirs(img.layers);
          // A read-only overlay needs two lower layers.
          while (lower.length < 2) lower.push('../empty');
          await mountOverlay({
            target,
            cwd: path.join(this.root, 'layers'),
            lower,
            rootless: this.rootless,
          });
        }
      } else if (!fs.existsSync(path.join(target, '.skiff-complete'))) {
        await removeTree(target);
        const tmp = this.tmpPath('rootfs');
        try {
          await this.materialize(img.layers, path.join(tmp, 'rootfs'), signal);
          fs.renameSync(path.join(tmp, 'rootfs'), target);
          fs.writeFileSync(path.join(target, '.skiff-complete'), '');
        } finally {
          await removeTree(tmp);
        }
      }
      this.bumpMount(id, target, 1);
      return this.driver === 'overlay' ? target : target;
    });
  }

  async unmountImage(id: string): Promise<void> {
    const target = this.mountPath(id);
    this.db.prepare('DELETE FROM mounts WHERE id = ?').run(id);
    if (this.driver === 'overlay' || isMounted(target)) await unmount(target);
    await removeTree(target);
  }

  // ---------------------------------------------------------------- containers

  private toContainer(r: ContainerRow): ContainerRecord {
    return {
      id: r.id,
      name: r.name,
      imageId: r.image_id,
      layerId: r.layer_id,
      created: new Date(r.created),
      config: JSON.parse(r.config) as Record<string, unknown>,
      state: JSON.parse(r.state) as Record<string, unknown>,
    };
  }

  private checkName(name: string): void {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `invalid container name "${name}": use letters, digits, "_", "." and "-"`,
      );
    }
    if (this.db.prepare('SELECT 1 FROM containers WHERE name = ?').get(name)) {
      throw new SkiffError(
        StorageErrorCode.NameInUse,
        `the container name "${name}" is already in use`,
        { hint: 'remove that container or choose another name' },
      );
    }
  }

  async createContainer(
    imageId: string,
    opts: CreateContainerOptions = {},
  ): Promise<ContainerRecord> {
    const img = this.getImage(imageId);
    if (!img) throw notFound(imageId);
    const id = opts.id ?? randomBytes(32).toString('hex');
    if (!HEX64.test(id)) {
      throw new SkiffError(ErrorCode.InvalidReference, `invalid container id "${id}"`);
    }
    const name = opts.name ?? `skiff-${id.slice(0, 12)}`;
    const layerId = randomBytes(32).toString('hex');
    const writer = new Writer(this, undefined);
    try {
      this.tx(() => {
        this.checkName(name);
        this.db
          .prepare(
            "INSERT INTO layers(id, parent, size, created, kind, state, owner) VALUES (?, ?, 0, ?, 'container', 'extracting', ?)",
          )
          .run(layerId, img.topLayer ?? null, Date.now(), writer.id);
      });
      const tmp = this.tmpPath('layer');
      try {
        if (this.driver === 'overlay') {
          fs.mkdirSync(path.join(tmp, 'diff'), { recursive: true });
          fs.mkdirSync(path.join(tmp, 'work'), { recursive: true });
        } else {
          await this.materialize(img.layers, path.join(tmp, 'diff'));
        }
        fs.renameSync(tmp, this.layerDir(layerId));
      } catch (err) {
        await removeTree(tmp);
        throw err;
      }
      fs.mkdirSync(this.containerDir(id), { recursive: true, mode: 0o700 });
      const row = this.tx(() => {
        if (!this.db.prepare('SELECT 1 FROM images WHERE id = ?').get(img.id)) {
          throw new SkiffError(StorageErrorCode.ImageNotFound, `image ${img.id} was removed`);
        }
        this.checkName(name);
        this.db
          .prepare("UPDATE layers SET state = 'ready', owner = NULL WHERE id = ?")
          .run(layerId);
        const now = Date.now();
        this.db
          .prepare(
            'INSERT INTO containers(id, name, image_id, layer_id, created, config, state) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            id,
            name,
            img.id,
            layerId,
            now,
            JSON.stringify(opts.config ?? {}),
            JSON.stringify(opts.state ?? {}),
          );
        return this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow;
      });
      return this.toContainer(row);
    } catch (err) {
      const trashed: string[] = [];
      this.tx(() => {
        this.db.prepare("DELETE FROM layers WHERE id = ? AND state = 'extracting'").run(layerId);
        this.trash(this.layerDir(layerId), trashed);
      });
      for (const t of trashed) await removeTree(t);
      throw err;
    } finally {
      writer.release();
    }
  }

  getContainer(id: string): ContainerRecord | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as
      | ContainerRow
      | undefined;
    return r ? this.toContainer(r) : undefined;
  }

  lookupContainer(spec: string): ContainerRecord {
    const byId = this.getContainer(spec);
    if (byId) return byId;
    const byName = this.db.prepare('SELECT * FROM containers WHERE name = ?').get(spec) as
      | ContainerRow
      | undefined;
    if (byName) return this.toContainer(byName);
    if (/^[0-9a-f]{1,63}$/.test(spec)) {
      const rows = this.db
        .prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2')
        .all(spec, `${spec}g`) as ContainerRow[];
      if (rows.length > 1) {
        throw new SkiffError(
          StorageErrorCode.AmbiguousContainer,
          `${spec} matches several containers`,
        );
      }
      if (rows[0]) return this.toContainer(rows[0]);
    }
    throw new SkiffError(
      StorageErrorCode.ContainerNotFound,
      `no container with name or ID "${spec}"`,
    );
  }

  listContainers(): ContainerRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM containers ORDER BY created DESC')
      .all() as ContainerRow[];
    return rows.map((r) => this.toContainer(r));
  }

  updateContainer(
    id: string,
    update: (
      c: ContainerRecord,
    ) => { config?: Record<string, unknown>; state?: Record<string, unknown> } | undefined,
  ): ContainerRecord {
    return this.tx(() => {
      const row = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as
        | ContainerRow
        | undefined;
      if (!row) {
        throw new SkiffError(StorageErrorCode.ContainerNotFound, `no container with ID "${id}"`);
      }
      const cur = this.toContainer(row);
      const next = update(cur);
      if (!next) return cur;
      if (next.config) cur.config = next.config;
      if (next.state) cur.state = next.state;
      this.db
        .prepare('UPDATE containers SET config = ?, state = ? WHERE id = ?')
        .run(JSON.stringify(cur.config), JSON.stringify(cur.state), id);
      return cur;
    });
  }

  renameContainer(id: string, name: string): void {
    this.tx(() => {
      if (!this.db.prepare('SELECT 1 FROM containers WHERE id = ?').get(id)) {
        throw new SkiffError(StorageErrorCode.ContainerNotFound, `no container with ID "${id}"`);
      }
      this.checkName(name);
      this.db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
    });
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.getContainer(id);
    if (!c)
      throw new SkiffError(StorageErrorCode.ContainerNotFound, `no container with ID "${id}"`);
    await this.unmountContainer(id, true);
    const trashed: string[] = [];
    this.tx(() => {
      this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
      this.db.prepare('DELETE FROM layers WHERE id = ?').run(c.layerId);
      this.trash(this.layerDir(c.layerId), trashed);
      this.trash(path.join(this.root, 'containers', id), trashed);
    });
    for (const t of trashed) await removeTree(t);
    await removeTree(path.join(this.runroot, 'containers', id));
  }

  containerDir(id: string): string {
    return path.join(this.root, 'containers', id, 'userdata');
  }

  containerRunDir(id: string): string {
    return path.join(this.runroot, 'containers', id, 'userdata');
  }

  containerLayerPath(id: string): string {
    const c = this.getContainer(id);
    if (!c)
      throw new SkiffError(StorageErrorCode.ContainerNotFound, `no container with ID "${id}"`);
    return this.layerDiff(c.layerId);
  }

  async mountContainer(id: string): Promise<string> {
    const c = this.getContainer(id);
    if (!c)
      throw new SkiffError(StorageErrorCode.ContainerNotFound, `no container with ID "${id}"`);
    if (this.driver === 'vfs') {
      this.bumpMount(id, this.layerDiff(c.layerId), 1);
      return this.layerDiff(c.layerId);
    }
    return this.serialize(id, async () => {
      const target = this.mountPath(id);
      if (!isMounted(target)) {
        this.db.prepare('DELETE FROM mounts WHERE id = ?').run(id);
        const img = this.getImage(c.imageId);
        if (!img) throw notFound(c.imageId);
        fs.mkdirSync(target, { recursive: true });
        const lower = this.lowerDirs(img.layers);
        if (lower.length === 0) lower.push('../empty');
        const dir = this.layerDir(c.layerId);
        fs.mkdirSync(path.join(dir, 'diff'), { recursive: true });
        fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
        await mountOverlay({
          target,
          cwd: path.join(this.root, 'layers'),
          lower,
          upper: path.join(dir, 'diff'),
          work: path.join(dir, 'work'),
          rootless: this.rootless,
        });
      }
      this.bumpMount(id, target, 1);
      return target;
    });
  }

  async unmountContainer(id: string, force = false): Promise<boolean> {
    const n = force ? 0 : this.bumpMount(id, '', -1);
    if (n > 0) return false;
    this.db.prepare('DELETE FROM mounts WHERE id = ?').run(id);
    if (this.driver === 'vfs') return true;
    const target = this.mountPath(id);
    await unmount(target);
    await removeTree(target);
    return true;
  }

  isContainerMounted(id: string): boolean {
    if (this.driver === 'vfs') {
      return this.db.prepare('SELECT 1 FROM mounts WHERE id = ?').get(id) !== undefined;
    }
    return isMounted(this.mountPath(id));
  }

  // ---------------------------------------------------------------- maintenance

  async df(): Promise<DiskUsage> {
    const layerUse = new Map<string, number>();
    for (const r of this.db.prepare('SELECT id FROM layers').all() as { id: string }[]) {
      layerUse.set(r.id, diskUsage(this.layerDir(r.id)));
    }
    const users = new Map<string, number>();
    for (const r of this.db
      .prepare('SELECT layer_id, COUNT(DISTINCT image_id) AS n FROM image_layers GROUP BY layer_id')
      .all() as { layer_id: string; n: number }[]) {
      users.set(r.layer_id, r.n);
    }
    const images = this.listImages().map((img) => {
      let unique = 0;
      let shared = 0;
      for (const l of new Set(img.layers)) {
        const use = layerUse.get(l) ?? 0;
        if ((users.get(l) ?? 0) > 1) shared += use;
        else unique += use;
      }
      return {
        id: img.id,
        names: img.names,
        created: img.created,
        size: img.size,
        uniqueSize: unique,
        sharedSize: shared,
        containers: img.containers,
      };
    });
    const containers = this.listContainers().map((c) => ({
      id: c.id,
      name: c.name,
      imageId: c.imageId,
      size: layerUse.get(c.layerId) ?? 0,
    }));
    let blobs = 0;
    let unrefBlobs = 0;
    const usedBlob = this.db.prepare('SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1');
    for (const d of this.blobs.list()) {
      const use = diskUsage(path.join(this.root, 'blobs', d.replace(':', '/')));
      blobs += use;
      if (usedBlob.get(d) === undefined) unrefBlobs += use;
    }
    let layers = 0;
    let unrefLayers = 0;
    const containerLayers = new Set(
      (this.db.prepare('SELECT layer_id FROM containers').all() as { layer_id: string }[]).map(
        (r) => r.layer_id,
      ),
    );
    let containerTotal = 0;
    for (const [id, use] of layerUse) {
      if (containerLayers.has(id)) {
        containerTotal += use;
        continue;
      }
      layers += use;
      if (!users.has(id)) unrefLayers += use;
    }
    const reclaimableImages = images
      .filter((i) => i.containers === 0)
      .reduce((a, i) => a + i.uniqueSize, 0);
    return {
      images,
      containers,
      totals: {
        layers,
        blobs,
        containers: containerTotal,
        unreferenced: unrefBlobs + unrefLayers,
        all: layers + blobs + containerTotal,
      },
      reclaimableImages,
    };
  }

  async reset(): Promise<void> {
    const points = mountPoints();
    for (const p of [...points].sort().reverse()) {
      if (p.startsWith(`${this.runroot}/`) || p.startsWith(`${this.root}/`)) await unmount(p);
    }
    this.close();
    for (const dir of [this.root, this.runroot]) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) await removeTree(path.join(dir, n));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** A lease-holding writer: see StoreWriter. */
class Writer implements StoreWriter {
  readonly id: string;
  private released = false;
  private readonly written = new Set<string>();
  private readonly extracted = new Set<string>();

  constructor(
    private readonly store: LocalStore,
    private readonly onEvent: ((e: StoreEvent) => void) | undefined,
  ) {
    this.id = randomBytes(16).toString('hex');
    const me = selfProcess();
    store.tx(() => {
      store.db
        .prepare('INSERT INTO leases(id, pid, start, created) VALUES (?, ?, ?, ?)')
        .run(this.id, me.pid, me.start, Date.now());
    });
  }

  private emit(e: StoreEvent): void {
    this.onEvent?.(e);
  }

  private protectBlob(digest: string, written: boolean): void {
    this.store.db
      .prepare(
        'INSERT INTO lease_blobs(lease_id, digest, written) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET written = MAX(written, excluded.written)',
      )
      .run(this.id, digest, written ? 1 : 0);
  }

  hasBlob(digest: string, size?: number): boolean {
    return this.store.tx(() => {
      if (!this.store.blobs.has(digest, size)) return false;
      this.protectBlob(digest, false);
      return true;
    });
  }

  async putBlob(
    stream: Readable,
    expected: { digest?: string | undefined; size?: number | undefined },
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number }> {
    if (expected.digest) this.store.tx(() => this.protectBlob(expected.digest!, true));
    const res = await this.store.blobs.put(stream, expected, signal);
    this.store.tx(() => this.protectBlob(res.digest, true));
    this.written.add(res.digest);
    return res;
  }

  async readBlob(digest: string): Promise<Uint8Array> {
    return this.store.blobs.read(digest);
  }

  async ensureLayer(input: LayerInput, signal?: AbortSignal): Promise<LayerInfo> {
    const [layer] = await this.ensureLayers([input], signal, 1);
    return layer!;
  }

  async ensureLayers(
    inputs: readonly LayerInput[],
    signal?: AbortSignal,
    concurrency = 3,
  ): Promise<LayerInfo[]> {
    const ids = inputs.map((i) => chainIdOf(i.parent, i.diffId));
    const todo = [...new Map(ids.map((id, i) => [id, inputs[i]!])).entries()];
    const claimed: string[] = [];
    const pending: { id: string; input: LayerInput; tmp: string; size: number }[] = [];
    const inner = new AbortController();
    const onAbort = () => inner.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let next = 0;
    let failed: { err: unknown } | undefined;
    const worker = async () => {
      while (!failed && next < todo.length) {
        const [id, input] = todo[next++]!;
        try {
          if ((await this.claimLayer(id, input, inner.signal)) === 'ready') continue;
          claimed.push(id);
          const done = await this.extractToTemp(id, input, inner.signal);
          pending.push({ id, input, ...done });
        } catch (err) {
          if (!failed) failed = { err };
          inner.abort(err);
        }
      }
    };
    try {
      await Promise.all(
        Array.from({ length: Math.max(1, Math.min(concurrency, todo.length)) }, worker),
      );
      if (failed) throw failed.err;
      if (pending.length > 0) {
        // One flush for the whole batch, then every layer becomes ready in one transaction.
        await this.store.syncLayers();
        throwIfAborted(signal);
        this.placeLayers(pending);
      }
    } catch (err) {
      await this.abandonLayers(claimed, pending);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return ids.map((id) => this.store.getLayer(id)!);
  }

  /** Claims layer `id` for extraction, or finds it ready (waiting while another process extracts it). */
  private async claimLayer(
    id: string,
    input: LayerInput,
    signal?: AbortSignal,
  ): Promise<'ready' | 'claimed'> {
    const store = this.store;
    const db = store.db;
    let waited = false;
    let delay = 20;
    for (;;) {
      throwIfAborted(signal);
      const decision = store.tx(() => {
        const row = db.prepare('SELECT * FROM layers WHERE id = ?').get(id) as LayerRow | undefined;
        if (!row) {
          db.prepare(
            `INSERT INTO layers(id, parent, diff_id, compressed_digest, compressed_size, size, created, kind, state, owner)
             VALUES (?, ?, ?, ?, ?, 0, ?, 'image', 'extracting', ?)`,
          ).run(
            id,
            input.parent ?? null,
            input.diffId,
            input.blob?.digest ?? null,
            input.blob?.size ?? null,
            Date.now(),
            this.id,
          );
          db.prepare('INSERT OR IGNORE INTO lease_layers(lease_id, layer_id) VALUES (?, ?)').run(
            this.id,
            id,
          );
          return { kind: 'claimed' as const };
        }
        if (row.state === 'ready') {
          db.prepare('INSERT OR IGNORE INTO lease_layers(lease_id, layer_id) VALUES (?, ?)').run(
            this.id,
            id,
          );
          return { kind: 'ready' as const, row };
        }
        const owner = row.owner
          ? (db.prepare('SELECT pid, start FROM leases WHERE id = ?').get(row.owner) as
              | { pid: number; start: string }
              | undefined)
          : undefined;
        if (owner && processAlive(owner.pid, owner.start)) {
          return { kind: 'wait' as const, pid: owner.pid };
        }
        // The extractor died: take the layer over.
        if (row.owner) db.prepare('DELETE FROM leases WHERE id = ?').run(row.owner);
        db.prepare('UPDATE layers SET owner = ? WHERE id = ?').run(this.id, id);
        db.prepare('INSERT OR IGNORE INTO lease_layers(lease_id, layer_id) VALUES (?, ?)').run(
          this.id,
          id,
        );
        return { kind: 'claimed' as const };
      });
      if (decision.kind === 'ready') {
        if (!fs.existsSync(path.join(store.root, 'layers', id, 'diff'))) {
          throw new SkiffError(StorageErrorCode.Corrupt, `layer ${id} is recorded but missing`, {
            hint: 'run `skiff system repair`',
          });
        }
        this.emit({ type: 'layer-reused', layer: id });
        return 'ready';
      }
      if (decision.kind === 'wait') {
        if (!waited) this.emit({ type: 'layer-wait', layer: id, owner: decision.pid });
        waited = true;
        await sleep(delay, signal);
        delay = Math.min(250, delay * 2);
        continue;
      }
      return 'claimed';
    }
  }

  /** Extracts a claimed layer into a temp directory (diff id checked), not yet flushed. */
  private async extractToTemp(
    id: string,
    input: LayerInput,
    signal?: AbortSignal,
  ): Promise<{ tmp: string; size: number }> {
    const store = this.store;
    this.emit({ type: 'layer-extract-start', layer: id, diffId: input.diffId });
    let stream: Readable;
    if (input.blob && store.blobs.has(input.blob.digest)) {
      stream = store.blobs.open(input.blob.digest).stream;
    } else if (input.open) {
      stream = await input.open();
    } else {
      throw new SkiffError(
        ErrorCode.BlobUnknown,
        `layer ${input.diffId}: its blob ${input.blob?.digest ?? '(none)'} is not in the store`,
      );
    }
    return store.extractLayer(stream, input.diffId, signal, false);
  }

  /** Renames flushed temp directories into place and marks the layers ready, in one transaction. */
  private placeLayers(
    pending: readonly { id: string; input: LayerInput; tmp: string; size: number }[],
  ): void {
    const store = this.store;
    store.tx(() => {
      for (const p of pending) {
        const row = store.db.prepare('SELECT owner FROM layers WHERE id = ?').get(p.id) as
          | { owner: string | null }
          | undefined;
        if (row?.owner !== this.id) {
          throw new SkiffError(StorageErrorCode.Corrupt, `lost the claim on layer ${p.id}`);
        }
      }
      for (const p of pending) {
        store.placeLayer(p.tmp, p.id);
        store.db
          .prepare("UPDATE layers SET state = 'ready', owner = NULL, size = ? WHERE id = ?")
          .run(p.size, p.id);
      }
    });
    for (const p of pending) {
      this.extracted.add(p.id);
      this.emit({ type: 'layer-extract-done', layer: p.id, diffId: p.input.diffId, size: p.size });
    }
  }

  /** After a failure: forgets the layers this writer claimed but did not finish. */
  private async abandonLayers(
    claimed: readonly string[],
    pending: readonly { tmp: string }[],
  ): Promise<void> {
    const store = this.store;
    const trashed: string[] = pending.map((p) => p.tmp);
    store.tx(() => {
      for (const id of claimed) {
        const r = store.db
          .prepare("DELETE FROM layers WHERE id = ? AND state = 'extracting' AND owner = ?")
          .run(id, this.id);
        if (r.changes > 0) {
          const dir = path.join(store.root, 'layers', id);
          if (fs.existsSync(dir)) {
            const to = path.join(store.root, 'tmp', tempName('trash'));
            fs.renameSync(dir, to);
            trashed.push(to);
          }
        }
        store.db
          .prepare('DELETE FROM lease_layers WHERE lease_id = ? AND layer_id = ?')
          .run(this.id, id);
      }
    });
    for (const t of trashed) await removeTree(t);
  }

  async commitImage(opts: CommitImageOptions): Promise<ImageRecord> {
    const store = this.store;
    const db = store.db;
    const doc = parseManifest(opts.manifest.raw, opts.manifest.mediaType);
    if (doc.kind !== 'image') {
      throw new SkiffError(ErrorCode.UnsupportedManifest, 'an image needs an image manifest');
    }
    const configDigest = digestOf(opts.configRaw);
    if (configDigest !== doc.config.digest) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `config digest ${configDigest} does not match the manifest's ${doc.config.digest}`,
      );
    }
    const config = parseImageConfig(opts.configRaw);
    const diffIds = config.rootfs.diff_ids;
    const ids = chainIds(diffIds);
    const id = configDigest.slice('sha256:'.length);
    // Config and manifest blobs first (content-addressed, protected by our lease).
    if (!store.blobs.has(configDigest, opts.configRaw.length)) {
      await this.putBlob(bufferStream(opts.configRaw), { digest: configDigest });
    } else this.store.tx(() => this.protectBlob(configDigest, false));
    const manifestDigest = digestOf(opts.manifest.raw);
    if (!store.blobs.has(manifestDigest, opts.manifest.raw.length)) {
      await this.putBlob(bufferStream(opts.manifest.raw), { digest: manifestDigest });
    } else this.store.tx(() => this.protectBlob(manifestDigest, false));
    const names = (opts.names ?? []).map((n) => formatReference(normalizeReference(n)));
    const created = config.created ? Date.parse(config.created) : Number.NaN;
    store.tx(() => {
      let size = 0;
      for (const l of ids) {
        const row = db.prepare('SELECT state, size FROM layers WHERE id = ?').get(l) as
          | { state: string; size: number }
          | undefined;
        if (row?.state !== 'ready' || !fs.existsSync(path.join(store.root, 'layers', l, 'diff'))) {
          throw new SkiffError(
            StorageErrorCode.LayerUnknown,
            `cannot commit image ${id}: layer ${l} is not in the store`,
          );
        }
        size += row.size;
      }
      if (!store.blobs.has(configDigest) || !store.blobs.has(manifestDigest)) {
        throw new SkiffError(StorageErrorCode.Corrupt, `image ${id}: config or manifest vanished`);
      }
      const now = Date.now();
      const exists = db.prepare('SELECT 1 FROM images WHERE id = ?').get(id) !== undefined;
      if (!exists) {
        db.prepare(
          `INSERT INTO images(id, digest, manifest_media_type, created, stored, size, top_layer, metadata)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          id,
          manifestDigest,
          doc.mediaType,
          Number.isFinite(created) ? created : now,
          now,
          size,
          ids[ids.length - 1] ?? null,
          JSON.stringify(opts.metadata ?? {}),
        );
        const insLayer = db.prepare(
          'INSERT INTO image_layers(image_id, idx, layer_id, diff_id) VALUES (?, ?, ?, ?)',
        );
        ids.forEach((l, i) => {
          insLayer.run(id, i, l, diffIds[i]);
        });
      } else {
        db.prepare('UPDATE images SET digest = ?, manifest_media_type = ? WHERE id = ?').run(
          manifestDigest,
          doc.mediaType,
          id,
        );
        if (opts.metadata) {
          db.prepare('UPDATE images SET metadata = ? WHERE id = ?').run(
            JSON.stringify(opts.metadata),
            id,
          );
        }
      }
      db.prepare(
        'INSERT OR IGNORE INTO image_manifests(image_id, digest, media_type, added) VALUES (?, ?, ?, ?)',
      ).run(id, manifestDigest, doc.mediaType, now);
      const insBlob = db.prepare(
        'INSERT OR IGNORE INTO image_blobs(image_id, digest) VALUES (?, ?)',
      );
      insBlob.run(id, configDigest);
      insBlob.run(id, manifestDigest);
      for (const l of doc.layers) if (store.blobs.has(l.digest)) insBlob.run(id, l.digest);
      for (const n of names) {
        db.prepare('DELETE FROM image_names WHERE name = ?').run(n);
        db.prepare('INSERT INTO image_names(name, image_id, added) VALUES (?, ?, ?)').run(
          n,
          id,
          now,
        );
      }
    });
    return store.getImage(id)!;
  }

  /** Drops the lease. With discard, blobs and layers it wrote that nothing uses go now. */
  release(opts: { discard?: boolean } = {}): void {
    if (this.released) return;
    this.released = true;
    const store = this.store;
    const trashed: string[] = [];
    store.tx(() => {
      store.db.prepare('DELETE FROM leases WHERE id = ?').run(this.id);
      if (opts.discard) {
        store.sweepLayers([...this.extracted].reverse(), trashed);
        store.sweepBlobs([...this.written]);
      }
    });
    for (const t of trashed) fs.rmSync(t, { recursive: true, force: true });
  }
}

function bufferStream(data: Uint8Array): Readable {
  return Readable.from([Buffer.from(data)]);
}
