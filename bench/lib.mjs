// What the side-by-side benchmarks share: a work directory on /dev/shm, Debian docker-registry
// instances on 127.0.0.1 (stopped by pid), deterministic test images written as OCI layouts,
// and timed runs under /usr/bin/time (wall seconds, peak RSS) with medians.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const TIME_BIN = '/usr/bin/time';
export const TIMEOUT_BIN = '/usr/bin/timeout';

/** Exits with a message naming what to install when a needed binary is missing. */
export function requireBinaries(bench, list) {
  for (const [bin, what] of list) {
    if (!existsSync(bin)) {
      console.error(`${bench}: ${bin} is missing: install ${what}`);
      process.exit(1);
    }
  }
}

/**
 * A fresh work directory on /dev/shm (the OS temp dir otherwise) with an empty HOME, and the
 * environment the measured tools get: no auth files or registries.conf of the machine's user.
 */
export function makeWorkDir(prefix) {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const work = mkdtempSync(join(base, prefix));
  const home = join(work, 'home');
  mkdirSync(home);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: work };
  return { work, home, env };
}

// ---- registries ------------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** docker-registry instances on 127.0.0.1 with their storage under `work`. */
export class Registries {
  constructor(work, env) {
    this.work = work;
    this.env = env;
    this.all = [];
  }

  async start(name) {
    const port = await freePort();
    const reg = {
      name,
      port,
      host: `127.0.0.1:${port}`,
      child: undefined,
      dir: join(this.work, name),
    };
    this.all.push(reg);
    await this.boot(reg);
    return reg;
  }

  async boot(reg) {
    rmSync(reg.dir, { recursive: true, force: true });
    mkdirSync(join(reg.dir, 'storage'), { recursive: true });
    const config = join(reg.dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(reg.dir, 'storage')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${reg.host}`,
        '',
      ].join('\n'),
    );
    const log = openSync(join(reg.dir, 'registry.log'), 'a');
    reg.child = spawn(REGISTRY_BIN, ['serve', config], {
      stdio: ['ignore', log, log],
      env: { PATH: this.env.PATH, HOME: reg.dir },
    });
    closeSync(log);
    reg.exited = new Promise((resolve) => reg.child.once('exit', resolve));
    for (let i = 0; i < 200; i++) {
      if (reg.child.exitCode !== null) break;
      try {
        const res = await fetch(`http://${reg.host}/v2/`);
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(
      `registry ${reg.name} did not start:\n${readFileSync(join(reg.dir, 'registry.log'), 'utf8')}`,
    );
  }

  async stop(reg) {
    const child = reg.child;
    reg.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, 3000);
    await reg.exited;
    clearTimeout(timer);
  }

  /** An empty registry again: no blob of an earlier run can be skipped or mounted. */
  async wipe(reg) {
    await this.stop(reg);
    await this.boot(reg);
  }

  async stopAll() {
    for (const reg of this.all) await this.stop(reg).catch(() => {});
  }
}

// ---- test images -----------------------------------------------------------------------------

/** xorshift32 over a 64-symbol alphabet: deterministic, gzip-compressible to about 0.8. */
function pseudoRandomPool(seed, size) {
  const out = Buffer.allocUnsafe(size);
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n');
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = alphabet[x & 63];
  }
  return out;
}

let pool;

/** `size` bytes made of 64 KiB slices of the pool at pseudo-random offsets (fast, deterministic). */
function fileContent(seed, size) {
  pool ??= pseudoRandomPool(0x5eed, 8 << 20);
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let off = 0; off < size; off += 65536) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const at = x % (pool.length - 65536);
    pool.copy(out, off, at, at + Math.min(65536, size - off));
  }
  return out;
}

/** A ustar header of a regular file (mode 0644, owner 0:0, mtime 0). */
export function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  const put = (s, at, len) => h.write(s.slice(0, len), at, 'ascii');
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124, 12);
  put('00000000000\0', 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** A tar of regular files ([name, Buffer] pairs), with the end-of-archive blocks. */
export function tarOf(entries) {
  const parts = [];
  for (const [name, data] of entries) {
    parts.push(tarHeader(name, data.length), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A deterministic layer tar of `files` files of `fileSize` bytes. */
export function layerTar(seed, files, fileSize) {
  const entries = [];
  for (let i = 0; i < files; i++) {
    entries.push([`data/l${seed}/f${i}.txt`, fileContent(seed * 7919 + i + 1, fileSize)]);
  }
  return tarOf(entries);
}

export function sha256(b) {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The image config the benchmarks use; `cmd` tells images with the same layers apart. */
export function imageConfig(diffIds, cmd = ['/bin/sh']) {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created_by: 'bench' })),
    }),
  );
}

/**
 * Writes an OCI layout of the given gzip layers; returns their total blob size. By default one
 * image tagged v1; `tags` adds more images with the same layers and another Cmd each (their
 * own config and manifest), for pulls whose layers are all present.
 */
export function writeLayout(dir, layerSpecs, tags = ['v1']) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const putBlob = (b) => {
    const d = sha256(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layers = [];
  const diffIds = [];
  let total = 0;
  for (const spec of layerSpecs) {
    const tar = layerTar(spec.seed, spec.files, spec.fileSize);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 1 });
    const d = putBlob(gz);
    total += d.size;
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...d });
  }
  const manifests = tags.map((tag, i) => {
    const cfg = putBlob(imageConfig(diffIds, i === 0 ? ['/bin/sh'] : ['/bin/sh', '-c', tag]));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
        layers,
      }),
    );
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...putBlob(manifest),
      annotations: { 'org.opencontainers.image.ref.name': tag },
    };
  });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests,
    }),
  );
  return total;
}

// ---- running and timing ----------------------------------------------------------------------

/**
 * A function that runs a command under /usr/bin/time and returns wall seconds, peak RSS in KiB
 * and stdout; it throws on failure, after `deadline` (ms since the epoch), and kills a command
 * that runs longer than `stepTimeout` ms.
 */
export function timedRunner({ env, rssFile, deadline, stepTimeout, bench }) {
  return (cmd, args, opts = {}) => {
    if (Date.now() > deadline) throw new Error(`${bench}: time budget exhausted`);
    const limit = Math.max(1, Math.ceil(Math.min(stepTimeout, deadline - Date.now()) / 1000));
    // coreutils timeout kills the command itself (killing /usr/bin/time would orphan it).
    const start = process.hrtime.bigint();
    const r = spawnSync(
      TIME_BIN,
      ['-f', '%M', '-o', rssFile, TIMEOUT_BIN, '-k', '5', String(limit), cmd, ...args],
      { env: opts.env ?? env, encoding: 'utf8', timeout: (limit + 30) * 1000, maxBuffer: 64 << 20 },
    );
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    if (r.status !== 0) {
      throw new Error(
        `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal ?? r.error?.message}):\n${r.stderr}${r.stdout}`,
      );
    }
    const rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
    return { secs, rss, stdout: r.stdout };
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
