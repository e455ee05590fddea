import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

export type Db = Database.Database;

/** Schema versions in order; a store records which it has applied in schema_migrations. */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE leases(
  id TEXT PRIMARY KEY, pid INTEGER NOT NULL, start TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE lease_blobs(
  lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE, digest TEXT NOT NULL,
  written INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(lease_id, digest));
CREATE INDEX lease_blobs_digest ON lease_blobs(digest);
CREATE TABLE lease_layers(
  lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE, layer_id TEXT NOT NULL,
  PRIMARY KEY(lease_id, layer_id));
CREATE INDEX lease_layers_layer ON lease_layers(layer_id);
CREATE TABLE layers(
  id TEXT PRIMARY KEY, parent TEXT, diff_id TEXT, compressed_digest TEXT,
  compressed_size INTEGER, size INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
  kind TEXT NOT NULL, state TEXT NOT NULL, owner TEXT);
CREATE INDEX layers_parent ON layers(parent);
CREATE TABLE images(
  id TEXT PRIMARY KEY, digest TEXT NOT NULL, manifest_media_type TEXT NOT NULL,
  created INTEGER NOT NULL, stored INTEGER NOT NULL, size INTEGER NOT NULL, top_layer TEXT,
  metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE image_names(
  name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  added INTEGER NOT NULL);
CREATE INDEX image_names_image ON image_names(image_id);
CREATE TABLE image_manifests(
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, digest TEXT NOT NULL,
  media_type TEXT NOT NULL, added INTEGER NOT NULL, PRIMARY KEY(image_id, digest));
CREATE INDEX image_manifests_digest ON image_manifests(digest);
CREATE TABLE image_layers(
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
  layer_id TEXT NOT NULL, diff_id TEXT NOT NULL, PRIMARY KEY(image_id, idx));
CREATE INDEX image_layers_layer ON image_layers(layer_id);
CREATE TABLE image_blobs(
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, digest TEXT NOT NULL,
  PRIMARY KEY(image_id, digest));
CREATE INDEX image_blobs_digest ON image_blobs(digest);
CREATE TABLE containers(
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL REFERENCES images(id),
  layer_id TEXT NOT NULL, created INTEGER NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX containers_image ON containers(image_id);
CREATE TABLE mounts(id TEXT PRIMARY KEY, path TEXT NOT NULL, count INTEGER NOT NULL);
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Opens the store database: WAL, a busy timeout, foreign keys, migrations applied. */
let sqlite: typeof Database | undefined;

/**
 * Loads the native SQLite binding on first use, so that commands that never open a store
 * (and CLIs bundled with this package) do not pay for it at start-up.
 */
function loadSqlite(): typeof Database {
  sqlite ??= createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  return sqlite;
}

export function openDatabase(file: string, busyTimeoutMs: number): Db {
  const db = new (loadSqlite())(file, { timeout: busyTimeoutMs });
  cacheStatements(db);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Makes `db.prepare` return one compiled statement per SQL text: the store prepares its
 * statements where it uses them, and compiling them again on every call cost more than the
 * queries. Safe because the store only runs statements to completion (get/all/run).
 */
function cacheStatements(db: Db): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = prepare(sql);
      cache.set(sql, st);
    }
    return st;
  }) as Db['prepare'];
}

function migrate(db: Db): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)',
  );
  const current = () =>
    (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null })
      .v ?? 0;
  if (current() >= SCHEMA_VERSION) return;
  // Immediate: two processes opening a new store at once apply each migration once.
  db.transaction(() => {
    const have = current();
    for (const m of MIGRATIONS) {
      if (m.version <= have) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations(version, applied) VALUES (?, ?)').run(
        m.version,
        Date.now(),
      );
    }
  }).immediate();
}
