// skiff's -i and -t for real through conmon's attach socket, with the built CLI and its own
// store: stdin piped into `run -i`, `start -a -i`, `run -it` and `exec -it` through a real pty
// (util-linux's script), the detach keys leaving the container running. Root only.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createSkiffTestStore,
  type Run,
  runCommand,
  type SkiffTestStore,
  stdoutOf,
} from '../lib/cli.js';

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;
let store: SkiffTestStore;
let image: string;

const env = () => store.env;
const skiffArgs = (args: string[]) => store.args(args);
const skiff = (args: string[], input?: string): Promise<Run> => store.skiff(args, input);

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Runs skiff inside a pty of `rows`x`cols` made by script(1); `keys` (a printf format) is
 * typed after `delay` seconds. Resolves with script's exit code (the command's) and output.
 */
function inPty(
  args: string[],
  opts: { rows?: number; cols?: number; keys?: string; delay?: number } = {},
): Promise<Run> {
  const cmd = `stty rows ${opts.rows ?? 30} cols ${opts.cols ?? 100}; exec ${[process.execPath, ...skiffArgs(args)].map(quote).join(' ')}`;
  const script = `script -qec ${quote(cmd)} /dev/null`;
  const shell =
    opts.keys !== undefined
      ? `(sleep ${opts.delay ?? 1}; ${opts.keys
          .split('|')
          .map((k) => `printf ${quote(k)}; sleep 0.5`)
          .join('; ')}; sleep 2) | ${script}`
      : `${script} < /dev/null`;
  return runCommand('sh', ['-c', shell], { env: env() });
}

/** exec -it under a pty. */
function execInPty(args: string[], opts: { rows?: number; cols?: number } = {}): Promise<Run> {
  return inPty(args, opts);
}

beforeAll(async () => {
  if (!isRoot) return;
  store = await createSkiffTestStore('skiff-tty-e2e', inject('baseImageLayout'), `busybox-${tag}`);
  image = store.image;
});

afterAll(async () => {
  if (!store) return;
  await store.remove();
});

describe.skipIf(!isRoot)('skiff -i and -t (skipped: runc containers need root)', () => {
  it('run -i forwards piped stdin and closes it at its end (echo hi | skiff run -i --rm IMG cat)', async () => {
    const r = await skiff(['run', '-i', '--rm', '--network', 'none', image, 'cat'], 'hi\n');
    expect(r).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
    const wc = await skiff(
      ['run', '-i', '--rm', '--network', 'none', image, 'sh', '-c', 'wc -l; exit 4'],
      'a\nb\nc\n',
    );
    expect(wc).toMatchObject({ code: 4, stdout: '3\n' });
    // Without -i the container's stdin is empty even when ours is not.
    const noI = await skiff(['run', '--rm', '--network', 'none', image, 'cat'], 'ignored\n');
    expect(noI).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('create -i then start -a -i forwards stdin', async () => {
    await stdoutOf(skiff(['create', '-i', '--name', n('cat'), '--network', 'none', image, 'cat']));
    const r = await skiff(['start', '-a', '-i', n('cat')], 'through start\n');
    expect(r).toMatchObject({ code: 0, stdout: 'through start\n' });
  });

  it('run -it gives the container a pty of the terminal size, and its exit code', async () => {
    const r = await inPty(
      ['run', '-it', '--rm', '--network', 'none', image, 'sh', '-c', 'stty size; tty; exit 3'],
      {
        rows: 30,
        cols: 100,
      },
    );
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/30 100\r\n\/dev\/pts\/0\r\n/);
  });

  it('exec -it runs in a pty; the detach keys leave an attached container running', async () => {
    await stdoutOf(skiff(['run', '-dit', '--name', n('shell'), '--network', 'none', image, 'sh']));
    const size = await execInPty(['exec', '-it', n('shell'), 'stty', 'size'], {
      rows: 31,
      cols: 90,
    });
    expect(size.code, size.stdout + size.stderr).toBe(0);
    expect(size.stdout).toContain('31 90\r\n');
    const code = await execInPty(['exec', '-it', n('shell'), 'sh', '-c', 'exit 5']);
    expect(code.code, code.stdout + code.stderr).toBe(5);
    const piped = await skiff(['exec', '-i', n('shell'), 'cat'], 'exec stdin\n');
    expect(piped).toEqual({ code: 0, stdout: 'exec stdin\n', stderr: '' });

    // attach, type a command, then ctrl-p ctrl-q: exit 0, the container keeps running.
    const attached = await inPty(['attach', n('shell')], {
      keys: 'echo typed-$((6*7))\\r|\\020\\021',
      delay: 1,
    });
    expect(attached.code, attached.stdout).toBe(0);
    expect(attached.stdout).toContain('typed-42');
    expect(await stdoutOf(skiff(['inspect', '--format', '{{.State.Status}}', n('shell')]))).toBe(
      'running\n',
    );
    // --detach-keys on run -it.
    const detached = await inPty(
      [
        'run',
        '-it',
        '--name',
        n('det'),
        '--network',
        'none',
        '--detach-keys',
        'ctrl-x',
        image,
        'sh',
      ],
      { keys: '\\030', delay: 1.5 },
    );
    expect(detached.code, detached.stdout).toBe(0);
    expect(await stdoutOf(skiff(['inspect', '--format', '{{.State.Status}}', n('det')]))).toBe(
      'running\n',
    );
    await stdoutOf(skiff(['rm', '-f', n('shell'), n('det')]));
  });
});
