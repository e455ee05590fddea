import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { SkiffError } from '@skiff/oci-image';
import { findBinary } from '@skiff/sys';
import { RuntimeErrorCode } from './errors.js';

/** The OCI runtime binary for a name or path, with a clear error when it is missing. */
export function findOciRuntime(nameOrPath: string): string {
  const found = findBinary(nameOrPath);
  if (!found) {
    throw new SkiffError(
      RuntimeErrorCode.RuntimeNotFound,
      `OCI runtime "${nameOrPath}" not found`,
      {
        hint: `install ${nameOrPath} or pick another with --runtime (runc works on this kind of host)`,
      },
    );
  }
  return found;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion (runc state/kill/delete/ps). */
export function run(file: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The last error message of a runtime's JSON log (`--log-format=json --log FILE`), if any. */
export function runtimeLogError(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if ((e.level === 'error' || e.level === 'fatal') && e.msg) last = e.msg;
    } catch {
      last = line;
    }
  }
  return last;
}

/** The SkiffError for a runtime failure; podman's 126/127 cases get their own codes. */
export function ociError(runtime: string, message: string): SkiffError {
  const msg = message.trim();
  if (/executable file not found|no such file or directory/i.test(msg)) {
    return new SkiffError(RuntimeErrorCode.CommandNotFound, `${runtime}: ${msg}`, {
      hint: 'check the command and the image (exit code 127)',
    });
  }
  if (/permission denied/i.test(msg)) {
    return new SkiffError(RuntimeErrorCode.CannotInvoke, `${runtime}: ${msg}`);
  }
  return new SkiffError(RuntimeErrorCode.OciRuntime, `${runtime}: ${msg}`);
}

export interface SyncMessage {
  data: number;
  message?: string;
}

/**
 * Spawns conmon with the sync pipe on fd 3 and resolves with its first message: the container
 * pid, or -1 with the runtime's error. conmon double-forks, so no process stays our child.
 */
export function spawnConmon(
  conmon: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<SyncMessage> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(conmon, args, {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        env: { ...env, _OCI_SYNCPIPE: '3' },
        detached: true,
      });
    } catch (err) {
      reject(err);
      return;
    }
    let text = '';
    let stderr = '';
    let settled = false;
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      sync.destroy();
      child.stderr?.destroy();
      child.unref();
      fn();
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr += d;
    });
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => {
      text += d;
      // conmon writes one JSON object per message (api version 1).
      const m = /\{[^}]*\}/.exec(text);
      if (!m) return;
      try {
        const msg = JSON.parse(m[0]) as SyncMessage;
        finish(() => resolve(msg));
      } catch (err) {
        finish(() => reject(err));
      }
    });
    sync.on('error', () => undefined);
    child.on('error', (err) => finish(() => reject(err)));
    sync.on('close', () => {
      // Closed without a message: conmon failed before creating the container.
      setTimeout(
        () =>
          finish(() =>
            reject(
              new SkiffError(
                RuntimeErrorCode.OciRuntime,
                `conmon failed: ${stderr.trim() || 'no response on the sync pipe'}`,
              ),
            ),
          ),
        50,
      );
    });
  });
}
