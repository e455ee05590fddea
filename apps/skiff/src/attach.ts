// The terminal side of `run -it`, `start -ai`, `attach` and `exec -it`: raw mode while a tty
// container is attached (restored on every way out), SIGWINCH forwarded as a resize, podman's
// detach (the detach keys end the command with 0, the container keeps running) and its
// sig-proxy for containers without a tty.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AttachOptions, ContainerRuntime, ExecProcess, TerminalSize } from '@skiff/runtime';

/** What the CLI's attach needs to know about the container and the user's flags. */
export interface AttachRequest {
  /** The container has a pty (`-t`). */
  tty: boolean;
  /** Forward this process's stdin (`-i`, not `--no-stdin`). */
  stdin: boolean;
  /** `--detach-keys` (undefined: podman's ctrl-p,ctrl-q). */
  detachKeys?: string | undefined;
  /** Forward SIGINT/SIGTERM to the container (podman's --sig-proxy; not with a tty). */
  sigProxy: boolean;
}

/** The size of this process's terminal, when stdout (or stdin) is one. */
export function terminalSize(): TerminalSize | undefined {
  const out = process.stdout;
  if (out.isTTY && out.rows > 0 && out.columns > 0) {
    return { height: out.rows, width: out.columns };
  }
  return undefined;
}

/**
 * Puts the terminal in raw mode when stdin is one and the container has a tty, and calls
 * `resize` on SIGWINCH. Returns the function that undoes both.
 */
export function prepareTerminal(
  tty: boolean,
  forwardStdin: boolean,
  resize: (size: TerminalSize) => void,
): () => void {
  const undo: (() => void)[] = [];
  const stdin = process.stdin;
  if (tty && forwardStdin && stdin.isTTY) {
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    // libuv's raw mode keeps output processing (ONLCR): the container's pty already wrote
    // "\r\n", so turn it off as Go's term.MakeRaw does. setRawMode(false) restores it.
    spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
    const restore = () => {
      try {
        stdin.setRawMode(wasRaw);
      } catch {
        // stdin is gone: nothing to restore.
      }
    };
    // process.exit() skips finally blocks of pending work: restore on the way out too.
    process.once('exit', restore);
    undo.push(() => {
      process.removeListener('exit', restore);
      restore();
    });
  }
  if (tty) {
    const onWinch = () => {
      const size = terminalSize();
      if (size) {
        try {
          resize(size);
        } catch {
          // The container has just exited.
        }
      }
    };
    process.on('SIGWINCH', onWinch);
    undo.push(() => process.removeListener('SIGWINCH', onWinch));
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/**
 * Sets a tty container's first pty size while `start` runs: as soon as conmon listens on its
 * control FIFO, before the container's process starts, so that it never sees a 0x0 terminal.
 * Returns a function that stops trying.
 */
export function resizeWhileStarting(bundle: string, size: TerminalSize | undefined): () => void {
  if (!size) return () => {};
  let done = false;
  const fifo = path.join(bundle, 'ctl');
  const tryOnce = () => {
    if (done) return;
    let fd: number;
    try {
      // Non-blocking: ENXIO until conmon has its read end open.
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch {
      timer = setTimeout(tryOnce, 2);
      return;
    }
    try {
      fs.writeSync(fd, `1 ${size.height} ${size.width}\n`);
    } catch {
      // conmon went away: the container failed to start.
    } finally {
      fs.closeSync(fd);
    }
    done = true;
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(tryOnce, 0);
  return () => {
    done = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
}

function isDetached(err: unknown): boolean {
  return (err as { code?: string }).code === 'E_DETACHED';
}

/** The signal name in runCli's abort reason ("interrupted by SIGINT"). */
function abortSignalName(signal: AbortSignal): string {
  return /SIG[A-Z]+/.exec(String((signal.reason as Error)?.message ?? ''))?.[0] ?? 'SIGTERM';
}

/**
 * Attaches to a started container until it exits (its exit code) or the user detaches (0,
 * the container keeps running).
 */
export async function attachContainer(
  rt: ContainerRuntime,
  id: string,
  req: AttachRequest,
  signal: AbortSignal,
): Promise<number> {
  const forward = () => {
    rt.kill(id, abortSignalName(signal)).catch(() => undefined);
  };
  if (req.sigProxy && !req.tty) signal.addEventListener('abort', forward, { once: true });
  const restore = prepareTerminal(req.tty, req.stdin, (size) => rt.resize(id, size));
  const size = req.tty ? terminalSize() : undefined;
  const opts: AttachOptions = {
    stdout: process.stdout,
    stderr: process.stderr,
    ...(req.stdin ? { stdin: process.stdin } : {}),
    ...(req.detachKeys !== undefined ? { detachKeys: req.detachKeys } : {}),
    ...(size ? { size } : {}),
  };
  try {
    return await rt.attach(id, opts);
  } catch (err) {
    if (isDetached(err)) return 0;
    throw err;
  } finally {
    restore();
    signal.removeEventListener('abort', forward);
  }
}

/** `exec -it`'s session: its exit code, or 0 when the user detached. */
export async function execAttached(
  start: () => Promise<ExecProcess>,
  tty: boolean,
  forwardStdin: boolean,
): Promise<number> {
  let proc: ExecProcess | undefined;
  // Raw mode before the session starts, so that nothing typed is read cooked.
  const restore = prepareTerminal(tty, forwardStdin, (size) => proc?.resize?.(size));
  try {
    proc = await start();
    return await proc.exited;
  } catch (err) {
    if (isDetached(err)) return 0;
    throw err;
  } finally {
    restore();
  }
}
