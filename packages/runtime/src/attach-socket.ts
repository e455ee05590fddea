import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { connectSeqpacket, type SeqpacketSocket } from '@skiff/sys';
import { DetachKeyMatcher } from './tty.js';

/*
 * conmon's attach socket (`--full-attach`: BUNDLE/attach, SOCK_SEQPACKET). Each message conmon
 * sends is one stream id byte (2 stdout, 3 stderr; with a tty everything is 2) followed by up to
 * 8192 bytes of output. Everything a client sends is raw stdin for the container (conmon reads
 * at most 32767 bytes per message, so larger chunks are split). A client's end-of-file closes
 * the container's stdin when conmon runs with `-i` (without a tty); with a tty the pty stays.
 * Closing the socket does not stop the container: that is how detaching works.
 */

const STREAM_STDOUT = 2;
const STREAM_STDERR = 3;
/** Stays well under conmon's 32767-byte read so no stdin message is truncated. */
const STDIN_MESSAGE_MAX = 8192;

export function attachSocketPath(bundle: string): string {
  return path.join(bundle, 'attach');
}

export function connectAttachSocket(bundle: string): Promise<SeqpacketSocket> {
  return connectSeqpacket(attachSocketPath(bundle));
}

export interface AttachSessionOptions {
  /** Forwarded to the container when given. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** The detach sequence (empty: none). Only looked for when stdin is forwarded. */
  detachKeys?: Buffer;
  /** Half-close the socket at stdin's end, so the container reads end-of-file (no tty). */
  closeStdinOnEnd?: boolean;
  signal?: AbortSignal;
}

/** How an attach session ended. */
export type AttachEnd = 'closed' | 'detached';

function write(out: Writable | undefined, data: Buffer): Promise<void> | undefined {
  if (!out || data.length === 0 || out.destroyed) return undefined;
  if (out.write(data)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}

/**
 * Copies the container's output from the socket and, when asked, stdin into it, until conmon
 * closes the socket (the process ended: 'closed') or the detach keys are typed ('detached').
 * The socket is closed on return; stdin is left paused, not destroyed.
 */
export async function runAttachSession(
  sock: SeqpacketSocket,
  opts: AttachSessionOptions,
): Promise<AttachEnd> {
  let detached = false;
  const stdin = opts.stdin;
  const matcher = new DetachKeyMatcher(opts.detachKeys ?? Buffer.alloc(0));
  const onAbort = () => sock.close();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const onData = (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const { forward, detach } = matcher.feed(buf);
    stdin?.pause();
    void (async () => {
      try {
        for (let off = 0; off < forward.length; off += STDIN_MESSAGE_MAX) {
          await sock.send(forward.subarray(off, off + STDIN_MESSAGE_MAX));
        }
      } catch {
        // The socket went away: the output side ends the session.
      }
      if (detach) {
        detached = true;
        sock.close();
        return;
      }
      if (!sock.closed) stdin?.resume();
    })();
  };
  const onEnd = () => {
    if (opts.closeStdinOnEnd) void sock.shutdownWrite().catch(() => undefined);
  };
  if (stdin) {
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  }
  try {
    for (;;) {
      const m = await sock.recv();
      if (m === null) break;
      const data = m.subarray(1);
      if (m[0] === STREAM_STDOUT) await write(opts.stdout, data);
      else if (m[0] === STREAM_STDERR) await write(opts.stderr, data);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (stdin) {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    }
    sock.close();
  }
  opts.signal?.throwIfAborted();
  return detached ? 'detached' : 'closed';
}
