import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { Store } from '@skiff/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Container, type ContainerOptions, ContainerRuntime } from '../src/index.js';
import { isRoot, storeWithBusybox } from './helpers.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

const suite = isRoot() ? describe : describe.skip;

suite('containers under runc and conmon (needs root: skipped otherwise)', () => {
  let store: Store;
  let dir: string;
  let rt: ContainerRuntime;
  const created: string[] = [];

  beforeAll(async () => {
    ({ store, dir } = await storeWithBusybox());
    rt = new ContainerRuntime({ store });
  }, 120_000);

  afterAll(async () => {
    for (const id of created) {
      await rt.remove(id, { force: true }).catch(() => undefined);
    }
    store?.close();
    if (dir) {
      // runc's state dir is under the runroot; nothing of ours may stay mounted.
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  async function create(options: ContainerOptions): Promise<Container> {
    const c = await rt.create('busybox', options);
    created.push(c.id);
    return c;
  }

  /** `skiff run` without -d: output and exit code. */
  async function runAttached(
    options: ContainerOptions,
  ): Promise<{ out: string; err: string; code: number; c: Container }> {
    const c = await create(options);
    await rt.start(c.id, { attached: true });
    const out = sink();
    const err = sink();
    const code = await rt.attach(c.id, { stdout: out.stream, stderr: err.stream });
    return { out: out.text(), err: err.text(), code, c };
  }

  it('runs echo hello attached and reports its output and exit code 0', async () => {
    const { out, code, c } = await runAttached({ command: ['echo', 'hello'] });
    expect(out).toBe('hello\n');
    expect(code).toBe(0);
    const after = rt.inspect(c.id);
    expect(after.state.status).toBe('exited');
    expect(after.state.mounted).toBe(false);
    expect(store.isContainerMounted(c.id)).toBe(false);
  });

  it("gives the container's own exit code (sh -c 'exit 3' -> 3)", async () => {
    const { code } = await runAttached({ command: ['sh', '-c', 'exit 3'] });
    expect(code).toBe(3);
  });

  it('applies env, user, workdir and the image user database', async () => {
    const { out, code } = await runAttached({
      command: ['sh', '-c', 'echo "$FOO|$(id -u):$(id -g)|$(pwd)|$HOME|$container|$(hostname)"'],
      env: ['FOO=bar'],
      user: 'nobody',
      workdir: '/tmp',
      hostname: 'box1',
    });
    expect(code).toBe(0);
    expect(out).toBe('bar|65534:65534|/tmp|/nonexistent|podman|box1\n');
  });

  it('--init runs catatonit as PID 1 and the command under it', async () => {
    const { out, code } = await runAttached({
      command: ['sh', '-c', 'echo $$; cat /proc/1/comm'],
      init: true,
    });
    expect(code).toBe(0);
    const [pid, comm] = out.trim().split('\n');
    expect(Number(pid)).toBeGreaterThan(1);
    expect(comm).toBe('skiff-init');
  });

  it('keeps stdout and stderr apart', async () => {
    const { out, err } = await runAttached({ command: ['sh', '-c', 'echo out; echo err >&2'] });
    expect(out).toBe('out\n');
    expect(err).toBe('err\n');
  });

  it('--read-only: the rootfs refuses writes, /tmp stays writable', async () => {
    const { out, code } = await runAttached({
      command: [
        'sh',
        '-c',
        'touch /x 2>/dev/null && echo wrote-root; touch /tmp/y && echo wrote-tmp',
      ],
      readOnly: true,
    });
    expect(code).toBe(0);
    expect(out).toBe('wrote-tmp\n');
  });

  it('--memory and --pids-limit reach the container cgroup', async () => {
    const { out } = await runAttached({
      command: [
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
      ],
      memory: 64 * 1024 * 1024,
      pidsLimit: 50,
    });
    expect(out).toBe(`${64 * 1024 * 1024}\n50\n`);
  });

  it('a missing command fails to start with E_COMMAND_NOT_FOUND and leaves nothing mounted', async () => {
    const c = await create({ command: ['/no/such/program'] });
    await expect(rt.start(c.id)).rejects.toMatchObject({ code: 'E_COMMAND_NOT_FOUND' });
    expect(store.isContainerMounted(c.id)).toBe(false);
    expect(rt.inspect(c.id).state.status).toBe('exited');
  });

  it('--runtime crun fails with a clear error on this host', async () => {
    const c = await create({ command: ['true'], runtime: 'crun' });
    await expect(rt.start(c.id)).rejects.toMatchObject({
      code: expect.stringMatching(/E_RUNTIME_NOT_FOUND|E_OCI_RUNTIME/),
      message: expect.stringContaining('crun'),
    });
  });

  it('detached: stop sends SIGTERM, which a trapping shell obeys', async () => {
    const c = await create({
      command: ['sh', '-c', "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done"],
    });
    await rt.start(c.id);
    expect(rt.inspect(c.id).state.status).toBe('running');
    await waitForLog(c.id, 'ready');
    const stopped = await rt.stop(c.id, { timeout: 10 });
    expect(stopped.state.exitCode).toBe(7);
    expect(stopped.state.status).toBe('exited');
    expect(store.isContainerMounted(c.id)).toBe(false);
  });

  it('detached: stop falls back to SIGKILL after the timeout', async () => {
    // sleep as PID 1 ignores SIGTERM (no handler), so only SIGKILL ends it.
    const c = await create({ command: ['sleep', '100'] });
    await rt.start(c.id);
    const t0 = Date.now();
    const stopped = await rt.stop(c.id, { timeout: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(stopped.state.exitCode).toBe(137);
  });

  it('kill and wait report 137', async () => {
    const c = await create({ command: ['sleep', '100'] });
    await rt.start(c.id);
    const waited = rt.wait(c.id);
    await rt.kill(c.id, 'KILL');
    expect(await waited).toBe(137);
    await rt.cleanup(c.id);
    expect(rt.inspect(c.id).state.status).toBe('exited');
  });

  it('exec runs in a running container: output, exit codes, 127 for a missing command', async () => {
    const c = await create({ command: ['sleep', '100'], env: ['IN_CTR=yes'] });
    await rt.start(c.id);
    const e1 = await rt.exec(c.id, {
      command: ['sh', '-c', 'echo $IN_CTR $X; exit 5'],
      env: ['X=1'],
    });
    let out = '';
    e1.child.stdout?.on('data', (d) => {
      out += d;
    });
    expect(await e1.exited).toBe(5);
    expect(out).toBe('yes 1\n');
    const e2 = await rt.exec(c.id, { command: ['id', '-u'], user: 'daemon' });
    let uid = '';
    e2.child.stdout?.on('data', (d) => {
      uid += d;
    });
    expect(await e2.exited).toBe(0);
    expect(uid).toBe('1\n');
    const e3 = await rt.exec(c.id, { command: ['/nope'] });
    expect(await e3.exited).toBe(127);
    const top = await rt.top(c.id);
    expect(top.titles).toContain('PID');
    expect(top.processes.some((p) => p.join(' ').includes('sleep 100'))).toBe(true);
    await rt.remove(c.id, { force: true });
    expect(store.getContainer(c.id)).toBeUndefined();
  });

  it('pause and unpause', async () => {
    const c = await create({ command: ['sleep', '100'] });
    await rt.start(c.id);
    await rt.pause(c.id);
    expect(rt.inspect(c.id).state.status).toBe('paused');
    await rt.unpause(c.id);
    expect(rt.inspect(c.id).state.status).toBe('running');
    await rt.kill(c.id);
    expect(await rt.wait(c.id)).toBe(137);
  });

  it('logs: both streams, --tail, timestamps, follow until the exit', async () => {
    const c = await create({
      command: ['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'],
    });
    await rt.start(c.id);
    const followed: string[] = [];
    for await (const e of rt.logs(c.id, { follow: true })) followed.push(`${e.stream}:${e.text}`);
    expect(followed).toEqual(['stdout:one', 'stderr:two', 'stdout:three']);
    const tail: string[] = [];
    for await (const e of rt.logs(c.id, { tail: 1 })) tail.push(e.text);
    expect(tail).toEqual(['three']);
    const later: string[] = [];
    for await (const e of rt.logs(c.id, { since: new Date(Date.now() + 60_000) }))
      later.push(e.text);
    expect(later).toEqual([]);
    for await (const e of rt.logs(c.id)) expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('--rm: an attached run leaves no container, mount or runtime state behind', async () => {
    const { out, c } = await runAttached({ command: ['echo', 'bye'], autoRemove: true });
    expect(out).toBe('bye\n');
    expect(store.getContainer(c.id)).toBeUndefined();
    expect(fs.existsSync(path.join(store.runroot, 'runc', c.id))).toBe(false);
  });

  it('a container whose runtime state vanished is reported as not running', async () => {
    const c = await create({ command: ['sleep', '100'] });
    await rt.start(c.id);
    // What a reboot does: the runtime's state and conmon's exit file are gone.
    execFileSync('runc', [`--root=${path.join(store.runroot, 'runc')}`, 'kill', c.id, '9']);
    await rt.wait(c.id);
    fs.rmSync(c.paths.exitFile, { force: true });
    fs.rmSync(path.join(c.paths.bundle, 'exit'), { force: true });
    store.updateContainer(c.id, (r) => ({ state: { ...r.state, status: 'running' } }));
    execFileSync('runc', [`--root=${path.join(store.runroot, 'runc')}`, 'delete', '--force', c.id]);
    const seen = rt.inspect(c.id);
    expect(['stopped', 'exited']).toContain(seen.state.status);
    expect(seen.state.exitCode).toBe(-1);
    await rt.cleanup(c.id);
    expect(rt.inspect(c.id).state.status).toBe('exited');
  });

  it('conmon runs the exit command with the container id when it exits', async () => {
    const marker = path.join(dir, 'exit-command-ran');
    const withExit = new ContainerRuntime({
      store,
      exitCommand: ['/bin/sh', '-c', `echo "$0" > ${marker}`],
    });
    const c = await create({ command: ['true'] });
    await withExit.start(c.id);
    expect(await withExit.wait(c.id)).toBe(0);
    for (let i = 0; i < 100 && !fs.existsSync(marker); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(fs.readFileSync(marker, 'utf8').trim()).toBe(c.id);
  });

  it('starts 5 containers in parallel', async () => {
    const cs = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => create({ command: ['sh', '-c', `echo n${i}`] })),
    );
    await Promise.all(cs.map((c) => rt.start(c.id)));
    const codes = await Promise.all(cs.map((c) => rt.wait(c.id)));
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    for (const [i, c] of cs.entries()) {
      const lines: string[] = [];
      for await (const e of rt.logs(c.id)) lines.push(e.text);
      expect(lines).toEqual([`n${i}`]);
      await rt.remove(c.id);
    }
  });

  async function waitForLog(id: string, text: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      for await (const e of rt.logs(id)) if (e.text === text) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no "${text}" in the log of ${id}`);
  }
});
