import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSeqpacket } from '../src/index.js';

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.SOCK_SEQPACKET'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A SOCK_SEQPACKET server like conmon's attach socket: it greets with two messages, then
 * answers every message with "echo:" + message (one message each), and on end-of-file sends
 * "eof" and closes. A message of "big" is answered with one 8193-byte message.
 */
const SERVER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(4)
print("ready", flush=True)
def serve(c):
    c.send(b"\\x02hello")
    c.send(b"\\x03world")
    while True:
        m = c.recv(65536)
        if not m:
            c.send(b"eof")
            return
        if m == b"big":
            c.send(b"\\x02" + b"x" * 8192)
        else:
            c.send(b"echo:" + m)
while True:
    c, _ = s.accept()
    try:
        serve(c)
    except OSError:
        pass  # the client went away
    c.close()
`;

const suite = hasPython() ? describe : describe.skip;

suite('SOCK_SEQPACKET client against a python3 server (skipped without python3)', () => {
  const procs: ChildProcess[] = [];
  const dirs: string[] = [];

  afterEach(() => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  async function server(dirName = ''): Promise<string> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-seqpacket-'));
    dirs.push(dir);
    const sockDir = path.join(dir, dirName);
    fs.mkdirSync(sockDir, { recursive: true });
    const sock = path.join(sockDir, 'attach');
    // The server binds relative to its cwd so that long paths work for it too.
    const p = spawn('python3', ['-c', SERVER, 'attach'], {
      cwd: sockDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    procs.push(p);
    await new Promise<void>((resolve, reject) => {
      p.once('error', reject);
      p.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      p.stdout?.once('data', () => resolve());
    });
    return sock;
  }

  it('keeps message boundaries both ways and reads end-of-file after shutdownWrite', async () => {
    const sock = await connectSeqpacket(await server());
    expect((await sock.recv())?.toString()).toBe('\x02hello');
    expect((await sock.recv())?.toString()).toBe('\x03world');
    await sock.send(Buffer.from('one'));
    await sock.send(Buffer.from('two'));
    expect((await sock.recv())?.toString()).toBe('echo:one');
    expect((await sock.recv())?.toString()).toBe('echo:two');
    await sock.send(Buffer.from('big'));
    const big = await sock.recv();
    expect(big?.length).toBe(8193);
    expect(big?.[0]).toBe(2);
    await sock.shutdownWrite();
    expect((await sock.recv())?.toString()).toBe('eof');
    expect(await sock.recv()).toBeNull();
    sock.close();
  });

  it('does not block the event loop while waiting for a message', async () => {
    const sock = await connectSeqpacket(await server());
    await sock.recv();
    await sock.recv();
    const pending = sock.recv();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
    await sock.send(Buffer.from('late'));
    expect((await pending)?.toString()).toBe('echo:late');
    sock.close();
  });

  it('close() ends a pending recv with null', async () => {
    const sock = await connectSeqpacket(await server());
    for await (const m of sock) {
      if (m.toString() === '\x03world') break;
    }
    const pending = sock.recv();
    await new Promise((r) => setTimeout(r, 50));
    sock.close();
    expect(await pending).toBeNull();
    await expect(sock.send(Buffer.from('x'))).rejects.toThrow(/closed/);
  });

  it('connects to a socket whose path is longer than sun_path allows', async () => {
    const sockPath = await server('d'.repeat(60) + '/' + 'e'.repeat(60));
    expect(Buffer.byteLength(sockPath)).toBeGreaterThan(108);
    const sock = await connectSeqpacket(sockPath);
    expect((await sock.recv())?.toString()).toBe('\x02hello');
    sock.close();
  });

  it('fails with ECONNREFUSED/ENOENT like Node does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-seqpacket-'));
    dirs.push(dir);
    await expect(connectSeqpacket(path.join(dir, 'none'))).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'connect',
    });
  });
});
