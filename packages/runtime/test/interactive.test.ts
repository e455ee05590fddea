import * as fs from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '@skiff/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Container, type ContainerOptions, ContainerRuntime } from '../src/index.js';
import { DetachKeyMatcher, parseDetachKeys } from '../src/tty.js';
import { isRoot, storeWithBusybox } from './helpers.js';

/** A Writable that collects text and can wait for a pattern. */
function sink() {
  let text = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      for (const w of waiters.splice(0)) {
        if (w.re.test(text)) w.resolve();
        else waiters.push(w);
      }
      cb();
    },
  });
  const waitFor = (re: RegExp, ms = 15_000) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(text)) return resolve();
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${re}: ${JSON.stringify(text)}`)),
        ms,
      );
      waiters.push({
        re,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  return { stream, text: () => text, waitFor };
}

describe('detach keys', () => {
  it('parses podman syntax', () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q')]).toEqual([16, 17]);
    expect([...parseDetachKeys('ctrl-a,d')]).toEqual([1, 100]);
    expect([...parseDetachKeys('ctrl-@,ctrl-_')]).toEqual([0, 31]);
    expect(parseDetachKeys('').length).toBe(0);
    expect(() => parseDetachKeys('ctrl-1')).toThrow(/invalid detach keys/);
    expect(() => parseDetachKeys('abc')).toThrow(/invalid detach keys/);
  });

  it('finds the sequence across chunks and forwards a broken prefix', () => {
    const m = new DetachKeyMatcher(parseDetachKeys('ctrl-p,ctrl-q'));
    expect(m.feed(Buffer.from('ab\x10'))).toEqual({ forward: Buffer.from('ab'), detach: false });
    expect(m.feed(Buffer.from('x'))).toEqual({ forward: Buffer.from('\x10x'), detach: false });
    expect(m.feed(Buffer.from('\x10\x10'))).toEqual({
      forward: Buffer.from('\x10'),
      detach: false,
    });
    expect(m.feed(Buffer.from('\x11rest'))).toEqual({ forward: Buffer.from(''), detach: true });
  });
});

const suite = isRoot() ? describe : describe.skip;

suite('interactive containers through conmon (needs root: skipped otherwise)', () => {
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
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function create(options: ContainerOptions): Promise<Container> {
    const c = await rt.create('busybox', options);
    created.push(c.id);
    return c;
  }

  it('-i: stdin reaches sh through the attach socket, its output and exit code come back', async () => {
    const c = await create({ command: ['sh'], interactive: true });
    await rt.start(c.id, { attached: true });
    const stdin = new PassThrough();
    const out = sink();
    const err = sink();
    const attached = rt.attach(c.id, { stdin, stdout: out.stream, stderr: err.stream });
    stdin.write('echo hi\n');
    stdin.write('echo oops >&2\n');
    stdin.end('exit 4\n');
    expect(await attached).toBe(4);
    expect(out.text()).toBe('hi\n');
    expect(err.text()).toBe('oops\n');
    expect(rt.inspect(c.id).state.status).toBe('exited');
  }, 60_000);

  it('-i: end of stdin is end of file for the container (cat ends)', async () => {
    const c = await create({ command: ['cat'], interactive: true });
    await rt.start(c.id, { attached: true });
    const stdin = new PassThrough();
    const out = sink();
    const attached = rt.attach(c.id, { stdin, stdout: out.stream });
    stdin.end('line one\nline two\n');
    expect(await attached).toBe(0);
    expect(out.text()).toBe('line one\nline two\n');
  }, 60_000);

  it('-t: a pty sized by resize (stty size says 30 100)', async () => {
    const c = await create({ command: ['sh'], tty: true, interactive: true });
    await rt.start(c.id, { attached: true });
    rt.resize(c.id, { height: 30, width: 100 });
    const stdin = new PassThrough();
    const out = sink();
    const attached = rt.attach(c.id, { stdin, stdout: out.stream });
    stdin.write('stty size; exit\n');
    expect(await attached).toBe(0);
    // The pty echoes the input and turns \n into \r\n.
    expect(out.text()).toContain('30 100\r\n');
  }, 60_000);

  it('-t without -i: output of a quick command is not lost (attached before runc start)', async () => {
    const c = await create({ command: ['sh', '-c', 'echo quick; exit 6'], tty: true });
    await rt.start(c.id, { attached: true });
    await sleep(300);
    const out = sink();
    expect(await rt.attach(c.id, { stdout: out.stream })).toBe(6);
    expect(out.text()).toBe('quick\r\n');
  }, 60_000);

  it('-t: attach({size}) sets the size before the first command', async () => {
    const c = await create({
      command: ['sh', '-c', 'read x; stty size'],
      tty: true,
      interactive: true,
    });
    await rt.start(c.id, { attached: true });
    const stdin = new PassThrough();
    const out = sink();
    const attached = rt.attach(c.id, {
      stdin,
      stdout: out.stream,
      size: { height: 12, width: 34 },
    });
    stdin.write('\n');
    expect(await attached).toBe(0);
    expect(out.text()).toContain('12 34');
  }, 60_000);

  it('detach keys (ctrl-p ctrl-q) leave the container running and a second attach reaches it', async () => {
    const c = await create({ command: ['sh'], tty: true, interactive: true });
    await rt.start(c.id, { attached: true });
    const stdin1 = new PassThrough();
    const out1 = sink();
    const first = rt.attach(c.id, { stdin: stdin1, stdout: out1.stream });
    stdin1.write('echo first-$((1+1))\n');
    await out1.waitFor(/first-2/);
    stdin1.write('\x10\x11');
    await expect(first).rejects.toMatchObject({ code: 'E_DETACHED' });
    await sleep(200);
    expect(rt.inspect(c.id).state.status).toBe('running');

    const stdin2 = new PassThrough();
    const out2 = sink();
    const second = rt.attach(c.id, { stdin: stdin2, stdout: out2.stream });
    await sleep(200);
    stdin2.write('echo second-$((2+1)); exit 7\n');
    expect(await second).toBe(7);
    expect(out2.text()).toContain('second-3');
    expect(out2.text()).not.toContain('first-2');
  }, 60_000);

  it('run -d -i keeps stdin open until a later attach sends it', async () => {
    const c = await create({ command: ['sh'], interactive: true });
    await rt.start(c.id);
    await sleep(300);
    expect(rt.inspect(c.id).state.status).toBe('running');
    const stdin = new PassThrough();
    const out = sink();
    const attached = rt.attach(c.id, { stdin, stdout: out.stream });
    await sleep(200);
    stdin.end('echo later; exit 2\n');
    expect(await attached).toBe(2);
    expect(out.text()).toBe('later\n');
  }, 60_000);

  it('exec -it: a tty session in a running container, resized, with its exit code', async () => {
    const c = await create({ command: ['sleep', '300'] });
    await rt.start(c.id);
    const stdin = new PassThrough();
    const out = sink();
    const ex = await rt.exec(c.id, {
      command: ['sh'],
      tty: true,
      interactive: true,
      stdin,
      stdout: out.stream,
      size: { height: 40, width: 120 },
    });
    stdin.write('tty; stty size; exit 5\n');
    expect(await ex.exited).toBe(5);
    expect(out.text()).toMatch(/\/dev\/pts\/\d+/);
    expect(out.text()).toContain('40 120');
    expect(rt.inspect(c.id).state.status).toBe('running');
    await rt.remove(c.id, { force: true });
  }, 60_000);

  it('exec -i without a tty: stdin, stdout and stderr apart', async () => {
    const c = await create({ command: ['sleep', '300'] });
    await rt.start(c.id);
    const stdin = new PassThrough();
    const out = sink();
    const err = sink();
    const ex = await rt.exec(c.id, {
      command: ['sh', '-c', 'cat; echo bad >&2; exit 3'],
      interactive: true,
      stdin,
      stdout: out.stream,
      stderr: err.stream,
    });
    stdin.end('piped\n');
    expect(await ex.exited).toBe(3);
    expect(out.text()).toBe('piped\n');
    expect(err.text()).toBe('bad\n');
    await rt.remove(c.id, { force: true });
  }, 60_000);
});
