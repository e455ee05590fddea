import * as fs from 'node:fs';
import * as path from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';

/** podman's default detach sequence. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

export interface TerminalSize {
  height: number;
  width: number;
}

/**
 * Parses podman's `--detach-keys` syntax: comma-separated keys, each a single character or
 * `ctrl-X` with X one of a-z, @, [, \, ], ^, _. '' disables detaching (empty result).
 */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl) {
      const ch = ctrl[1]!;
      const lower = ch.toLowerCase();
      if (lower >= 'a' && lower <= 'z') bytes.push(lower.charCodeAt(0) - 0x60);
      else if ('@[\\]^_'.includes(ch)) bytes.push(ch.charCodeAt(0) - 0x40);
      else throw invalidKeys(spec);
    } else if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
    } else {
      throw invalidKeys(spec);
    }
  }
  return Buffer.from(bytes);
}

function invalidKeys(spec: string): SkiffError {
  return new SkiffError(RuntimeErrorCode.InvalidOption, `invalid detach keys "${spec}"`, {
    hint: 'use keys like "ctrl-p,ctrl-q", "ctrl-a,d" or "" to disable',
  });
}

/**
 * Finds the detach sequence in stdin chunks (it may span chunks). feed() returns the bytes to
 * forward and whether the sequence was completed; a partial match is held back until it
 * either completes (dropped) or breaks (forwarded), like podman.
 */
export class DetachKeyMatcher {
  private readonly keys: Buffer;
  private matched = 0;

  constructor(keys: Buffer) {
    this.keys = keys;
  }

  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { forward: Buffer.from(out), detach: true };
        }
        continue;
      }
      // The held-back prefix was ordinary input after all.
      for (let j = 0; j < this.matched; j++) out.push(this.keys[j]!);
      this.matched = 0;
      if (b === this.keys[0]) this.matched = 1;
      else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/** conmon's control FIFO in a bundle (container or exec session). */
export function controlFifo(bundle: string): string {
  return path.join(bundle, 'ctl');
}

/**
 * Resizes the pty conmon holds: "1 HEIGHT WIDTH\n" on its `ctl` FIFO (conmon forwards it to
 * its `winsz` FIFO and calls TIOCSWINSZ). The FIFO is opened non-blocking: conmon keeps its
 * read end open, and a container that is gone gives ENXIO/ENOENT instead of a hang.
 */
export function writeResize(bundle: string, size: TerminalSize): void {
  const h = Math.trunc(size.height);
  const w = Math.trunc(size.width);
  if (!(h > 0 && w > 0 && h <= 0xffff && w <= 0xffff)) {
    throw new SkiffError(RuntimeErrorCode.InvalidOption, `invalid terminal size ${h}x${w}`);
  }
  const fd = fs.openSync(controlFifo(bundle), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    fs.writeSync(fd, `1 ${h} ${w}\n`);
  } finally {
    fs.closeSync(fd);
  }
}
