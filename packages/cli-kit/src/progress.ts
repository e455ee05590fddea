/** The events `copyImage` reports (see @skiff/transports); declared here so apps stay thin. */
export type CopyEvent =
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; bytes: number; size: number }
  | { type: 'blob-skipped'; digest: string; size: number }
  | { type: 'blob-reused'; digest: string }
  | { type: 'blob-done'; digest: string; size: number }
  | { type: 'config'; digest: string }
  | { type: 'manifest'; digest: string };

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Draw live bars (default: whether the output is a terminal). */
  tty?: boolean;
  /** Milliseconds clock, for speeds; injectable for tests. */
  now?: () => number;
  /** Minimal interval between redraws caused by progress alone. */
  redrawMs?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 512 -> "512B", 1536 -> "1.5KiB", as skopeo's progress bars write sizes. */
export function formatBytes(n: number): string {
  let value = Math.max(0, n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)}B` : `${value.toFixed(1)}${UNITS[unit]}`;
}

function shortDigest(digest: string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

interface Bar {
  kind: 'blob' | 'config';
  digest: string;
  size: number;
  bytes: number;
  state: 'active' | 'done' | 'skipped';
  startedAt: number;
}

/**
 * Turns copy events into what a user sees. On a terminal: one live line per blob with a bar,
 * bytes and speed, redrawn in place. Elsewhere (CI, pipes): one plain line per finished blob,
 * "Copying blob sha256:... done" or "... skipped: already exists", then the config and
 * "Writing manifest to image destination".
 */
export class CopyProgress {
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private bars: Bar[] = [];
  private drawnLines = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private heldSkip: string | undefined;

  constructor(
    private readonly out: ProgressOutput,
    options: ProgressOptions = {},
  ) {
    this.tty = options.tty ?? Boolean(out.isTTY);
    this.now = options.now ?? (() => performance.now());
    this.redrawMs = options.redrawMs ?? 100;
  }

  /** Printed before a copy starts, as skopeo does. */
  start(): void {
    this.out.write('Getting image source signatures\n');
  }

  readonly onEvent = (event: CopyEvent): void => {
    // The copy pipeline reports an already present config as a skipped blob right before
    // the config event: hold skipped lines one event so the config is not listed as a blob.
    const held = this.heldSkip;
    this.heldSkip = undefined;
    if (held !== undefined && !(event.type === 'config' && event.digest === held)) {
      this.out.write(`Copying blob ${held} skipped: already exists\n`);
    }
    switch (event.type) {
      case 'blob-start':
        this.bar('blob', event.digest, event.size);
        this.draw(true);
        break;
      case 'blob-progress': {
        const bar = this.bar('blob', event.digest, event.size);
        bar.bytes = event.bytes;
        if (event.size >= 0) bar.size = event.size;
        this.draw(false);
        break;
      }
      case 'blob-skipped':
      case 'blob-reused': {
        const bar = this.bar('blob', event.digest, 'size' in event ? event.size : -1);
        bar.state = 'skipped';
        if (!this.tty) this.heldSkip = event.digest;
        this.draw(true);
        break;
      }
      case 'blob-done': {
        const bar = this.bar('blob', event.digest, event.size);
        bar.state = 'done';
        bar.size = event.size;
        bar.bytes = event.size;
        if (!this.tty) this.out.write(`Copying blob ${event.digest} done\n`);
        this.draw(true);
        break;
      }
      case 'config': {
        this.bars = this.bars.filter((b) => !(b.kind === 'blob' && b.digest === event.digest));
        const bar = this.bar('config', event.digest, -1);
        bar.state = 'done';
        if (!this.tty) this.out.write(`Copying config ${event.digest} done\n`);
        this.draw(true);
        break;
      }
      case 'manifest':
        this.draw(true);
        // The bars above stay as they are; a further image (--all) starts a new block.
        this.bars = [];
        this.drawnLines = 0;
        this.out.write('Writing manifest to image destination\n');
        break;
    }
  };

  /** Draws the final state of any bars still on screen. */
  finish(): void {
    if (this.heldSkip !== undefined) {
      this.out.write(`Copying blob ${this.heldSkip} skipped: already exists\n`);
      this.heldSkip = undefined;
    }
    this.draw(true);
    this.bars = [];
    this.drawnLines = 0;
  }

  private bar(kind: Bar['kind'], digest: string, size: number): Bar {
    let bar = this.bars.find((b) => b.digest === digest && b.kind === kind);
    if (!bar) {
      bar = { kind, digest, size, bytes: 0, state: 'active', startedAt: this.now() };
      this.bars.push(bar);
    }
    return bar;
  }

  private draw(force: boolean): void {
    if (!this.tty) return;
    const now = this.now();
    if (!force && now - this.lastDraw < this.redrawMs) return;
    this.lastDraw = now;
    let s = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const bar of this.bars) s += `\r\x1b[2K${this.line(bar, now)}\n`;
    // Clear lines left over from a longer previous drawing, then return below the bars.
    const extra = this.drawnLines - this.bars.length;
    if (extra > 0) s += `${'\r\x1b[2K\n'.repeat(extra)}\x1b[${extra}A`;
    this.drawnLines = this.bars.length;
    this.out.write(s);
  }

  private line(bar: Bar, now: number): string {
    const label = `Copying ${bar.kind} ${shortDigest(bar.digest)}`;
    if (bar.state === 'skipped') return `${label} skipped: already exists`;
    if (bar.state === 'done') return `${label} done`;
    const seconds = Math.max((now - bar.startedAt) / 1000, 0.001);
    const speed = `${formatBytes(bar.bytes / seconds)}/s`;
    const amount =
      bar.size >= 0
        ? `${formatBytes(bar.bytes)} / ${formatBytes(bar.size)}`
        : formatBytes(bar.bytes);
    const columns = this.out.columns || 80;
    // Room for the widest amount and speed, so that the bar does not change width as they do.
    const room = columns - label.length - 21 - 12 - 8;
    if (bar.size <= 0 || room < 10) return `${label} ${amount} | ${speed}`;
    const width = Math.min(room, 40);
    const filled = Math.min(width, Math.floor((bar.bytes / bar.size) * width));
    const graph =
      filled >= width
        ? '='.repeat(width)
        : `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${'-'.repeat(width - filled)}`;
    return `${label} [${graph}] ${amount} | ${speed}`;
  }
}
