import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { SkiffError } from '@skiff/oci-image';
import type { SeqpacketSocket } from '@skiff/sys';
import {
  type AttachSessionOptions,
  connectAttachSocket,
  runAttachSession,
} from './attach-socket.js';
import { RuntimeErrorCode } from './errors.js';
import type { TerminalSize } from './tty.js';
import { writeResize } from './tty.js';

/*
 * `exec -it` the way podman does it: conmon supervises the exec session (`--exec
 * --exec-attach`), so the pty and stdin go through its attach socket like a container's.
 * The handshake (conmon 2.1): fd 4 (_OCI_STARTPIPE) — conmon blocks on a first write before
 * forking; fd 5 (_OCI_ATTACHPIPE) — conmon reports {"data":0} once BUNDLE/attach listens;
 * a second write on fd 4 lets it run `runc exec`, so no output is lost; fd 3 (_OCI_SYNCPIPE)
 * then carries {"data":PID} (or a negative value and the runtime's error) and, at the end,
 * {"data":EXITCODE}.
 */

interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads conmon's JSON messages one after the other from a pipe. */
class MessageReader {
  private text = '';
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      this.text += d;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  async next(): Promise<SyncMessage | undefined> {
    for (;;) {
      const m = /\{[^}]*\}/.exec(this.text);
      if (m) {
        this.text = this.text.slice(m.index + m[0].length);
        return JSON.parse(m[0]) as SyncMessage;
      }
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }
}

export interface ConmonExecOptions {
  conmon: string;
  args: string[];
  /** The session's bundle dir (attach socket and ctl FIFO). */
  bundle: string;
  tty: boolean;
  size?: TerminalSize;
  io: AttachSessionOptions;
}

export interface ConmonExec {
  child: ChildProcess;
  exited: Promise<number>;
  resize: (size: TerminalSize) => void;
}

function writeStart(pipe: Writable): Promise<void> {
  return new Promise((resolve, reject) =>
    pipe.write('0', (err) => (err ? reject(err) : resolve())),
  );
}

/** Starts the exec session under conmon, attaches to it, then lets it run. */
export async function startConmonExec(o: ConmonExecOptions): Promise<ConmonExec> {
  const child = spawn(o.conmon, o.args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
    detached: true,
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const pipes = child.stdio as unknown as (Readable & Writable)[];
  const sync = new MessageReader(pipes[3]!);
  const attach = new MessageReader(pipes[5]!);
  const start = pipes[4]!;
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  let sock: SeqpacketSocket | undefined;
  const fail = (what: string) =>
    new SkiffError(RuntimeErrorCode.OciRuntime, `conmon: ${what}: ${stderr.trim() || 'no reply'}`);
  const release = () => {
    for (const i of [3, 4, 5]) pipes[i]?.destroy();
    child.stderr?.destroy();
    child.unref();
  };
  try {
    await spawned;
    await writeStart(start);
    if (!(await attach.next())) throw fail('the exec session did not set up its attach socket');
    sock = await connectAttachSocket(o.bundle);
    if (o.tty && o.size) writeResize(o.bundle, o.size);
    await writeStart(start);
    const first = await sync.next();
    if (!first) throw fail('exec failed');
    if (first.data <= 0) {
      sock.close();
      release();
      const msg = (first.message ?? stderr).trim();
      // runc's own failure, not the command's: podman's 126/127.
      if (/executable file not found|no such file or directory/i.test(msg)) {
        return { child, exited: Promise.resolve(127), resize: () => undefined };
      }
      if (/permission denied/i.test(msg)) {
        return { child, exited: Promise.resolve(126), resize: () => undefined };
      }
      throw new SkiffError(RuntimeErrorCode.OciRuntime, `exec failed: ${msg}`);
    }
  } catch (err) {
    sock?.close();
    child.kill('SIGKILL');
    release();
    throw err;
  }
  const session = runAttachSession(sock, o.io);
  const exited = (async () => {
    try {
      const end = await session;
      if (end === 'detached') {
        throw new SkiffError(RuntimeErrorCode.Detached, 'detached from the exec session');
      }
      const last = await sync.next();
      if (!last) throw fail('the exec session ended without an exit code');
      return last.data;
    } finally {
      release();
    }
  })();
  return {
    child,
    exited,
    resize: (size) => {
      if (o.tty) writeResize(o.bundle, size);
    },
  };
}
