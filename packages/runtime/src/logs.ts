import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** One line of a container's output, as conmon's k8s-file log records it. */
export interface LogEntry {
  /** The time conmon read it. */
  time: Date;
  /** conmon's timestamp as written (RFC 3339 with nanoseconds), for `logs -t`. */
  timestamp: string;
  stream: 'stdout' | 'stderr';
  /** The text without its newline; partial records (P) are joined to the line they start. */
  text: string;
  /** False when the output ended without a newline. */
  newline: boolean;
}

/** Parses `TIMESTAMP STREAM P|F TEXT`; undefined for a malformed line. */
export function parseLogLine(
  line: string,
):
  | { timestamp: string; time: Date; stream: 'stdout' | 'stderr'; partial: boolean; text: string }
  | undefined {
  const m = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/s.exec(line);
  if (!m) return undefined;
  const time = new Date(m[1]!);
  if (Number.isNaN(time.getTime())) return undefined;
  return {
    timestamp: m[1]!,
    time,
    stream: m[2] as 'stdout' | 'stderr',
    partial: m[3] === 'P',
    text: m[4] ?? '',
  };
}

/** The k8s-file line for a record (tests and `skiff logs` of foreign files). */
export function formatLogLine(
  time: Date,
  stream: 'stdout' | 'stderr',
  text: string,
  partial = false,
): string {
  return `${time.toISOString().replace('Z', '000000+00:00')} ${stream} ${partial ? 'P' : 'F'} ${text}\n`;
}

/** Joins P records to full lines. Feed parsed records; get completed entries. */
class LineJoiner {
  private pending = new Map<
    string,
    { first: NonNullable<ReturnType<typeof parseLogLine>>; text: string }
  >();

  push(rec: NonNullable<ReturnType<typeof parseLogLine>>): LogEntry | undefined {
    const p = this.pending.get(rec.stream);
    if (rec.partial) {
      if (p) p.text += rec.text;
      else this.pending.set(rec.stream, { first: rec, text: rec.text });
      return undefined;
    }
    this.pending.delete(rec.stream);
    const first = p?.first ?? rec;
    return {
      time: first.time,
      timestamp: first.timestamp,
      stream: rec.stream,
      text: (p?.text ?? '') + rec.text,
      newline: true,
    };
  }

  flush(): LogEntry[] {
    const out = [...this.pending.values()].map((p) => ({
      time: p.first.time,
      timestamp: p.first.timestamp,
      stream: p.first.stream,
      text: p.text,
      newline: false,
    }));
    this.pending.clear();
    return out;
  }
}

export interface ReadLogOptions {
  follow?: boolean;
  /** Only the last N lines (before following). */
  tail?: number;
  since?: Date;
  until?: Date;
  signal?: AbortSignal;
  /** Follow mode: true once the container has exited (its output is then complete). */
  isDone?: () => boolean;
  pollMs?: number;
}

/** Reads a k8s-file log; with `follow`, keeps reading until `isDone()` and the file is drained. */
export async function* readLog(file: string, opts: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  const joiner = new LineJoiner();
  let offset = 0;
  let rest = '';
  const keep = (e: LogEntry) =>
    (!opts.since || e.time >= opts.since) && (!opts.until || e.time <= opts.until);

  const readMore = (): LogEntry[] => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return [];
    }
    const out: LogEntry[] = [];
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.allocUnsafe(1 << 16);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
        offset += n;
      }
      const text = rest + Buffer.concat(chunks).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const rec = parseLogLine(line);
        if (!rec) continue;
        const e = joiner.push(rec);
        if (e && keep(e)) out.push(e);
      }
    } finally {
      fs.closeSync(fd);
    }
    return out;
  };

  let first = readMore();
  if (!opts.follow || opts.isDone?.()) {
    // Not following (or nothing more will come): the partial tail is complete output.
    if (!opts.follow) first.push(...joiner.flush().filter(keep));
  }
  if (opts.tail !== undefined && opts.tail >= 0)
    first = first.slice(Math.max(0, first.length - opts.tail));
  yield* first;
  if (!opts.follow) return;
  const poll = opts.pollMs ?? 50;
  for (;;) {
    if (opts.signal?.aborted) return;
    const done = opts.isDone?.() ?? false;
    yield* readMore();
    if (done) {
      yield* joiner.flush().filter(keep);
      return;
    }
    await sleep(poll, undefined, { signal: opts.signal }).catch(() => undefined);
  }
}
