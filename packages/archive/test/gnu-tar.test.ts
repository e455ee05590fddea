import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, lgetxattr, lsetxattr, mknod } from '@skiff/sys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, createLayer } from '../src/index.js';
import { sandbox, streamOf } from './helpers.js';

let box: ReturnType<typeof sandbox>;
beforeEach(() => {
  box = sandbox();
});
afterEach(() => box.cleanup());

interface Node {
  /** Type, mode, owner, link target, link count and size (not for directories). */
  facts: string;
  mtime: number;
  content?: string;
}

/** Everything find can say about a tree, plus the content of regular files. */
function describeTree(dir: string): Map<string, Node> {
  const out = execFileSync(
    'find',
    [dir, '-mindepth', '1', '-printf', '%P\\0%y %m %U %G %l %n %s\\0%T@\\n'],
    { encoding: 'utf8' },
  );
  const tree = new Map<string, Node>();
  for (const line of out.trim().split('\n')) {
    const [path, facts, mtime] = line.split('\0') as [string, string, string];
    const node: Node = {
      facts: facts.startsWith('d ') ? facts.replace(/ \d+$/, '') : facts,
      mtime: Number(mtime),
    };
    if (facts.startsWith('f ')) {
      node.content = createHash('sha256')
        .update(readFileSync(join(dir, path)))
        .digest('hex');
    }
    tree.set(path, node);
  }
  return tree;
}

/**
 * The same paths with the same facts and content, mtimes within `tolerance` seconds: Node sets
 * times through libuv, which keeps microseconds; layers Skiff writes keep whole seconds.
 */
function expectSameTree(actual: Map<string, Node>, expected: Map<string, Node>, tolerance: number) {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [path, want] of expected) {
    const got = actual.get(path)!;
    expect({ path, facts: got.facts, content: got.content }).toEqual({
      path,
      facts: want.facts,
      content: want.content,
    });
    expect(Math.abs(got.mtime - want.mtime), path).toBeLessThan(tolerance);
  }
}

function buildTree(src: string): void {
  mkdirSync(join(src, 'usr/bin'), { recursive: true });
  mkdirSync(join(src, 'tmp'), { recursive: true });
  mkdirSync(join(src, `${'deep/'.repeat(25)}end`), { recursive: true });
  for (let i = 0; i < 300; i++)
    writeFileSync(join(src, 'usr/bin', `tool-${i}`), `#!${i}\n`.repeat(i));
  writeFileSync(join(src, 'usr/bin/su'), 'su');
  chmodSync(join(src, 'usr/bin/su'), 0o4755);
  chmodSync(join(src, 'tmp'), 0o1777);
  linkSync(join(src, 'usr/bin/tool-7'), join(src, 'usr/bin/tool-7-link'));
  symlinkSync('tool-1', join(src, 'usr/bin/alias'));
  symlinkSync('/absolute/target', join(src, 'abs'));
  writeFileSync(join(src, `${'deep/'.repeat(25)}end/${'f'.repeat(200)}`), 'deep');
  writeFileSync(join(src, 'big'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  lsetxattr(join(src, 'usr/bin/su'), 'user.origin', Buffer.from('test'));
  mknod(join(src, 'fifo'), 0o010644);
  if (isRoot()) {
    mknod(join(src, 'null'), 0o020666, 1, 3);
    execFileSync('chown', ['-h', '123:456', join(src, 'usr/bin/alias')]);
    execFileSync('chown', ['1000:1000', join(src, 'usr/bin/tool-9')]);
  }
  execFileSync('touch', ['-h', '-d', '2021-02-03 04:05:06', join(src, 'abs')]);
}

describe('against GNU tar', () => {
  it('extracts a GNU tar (posix format, xattrs, gzip) exactly as GNU tar does', async () => {
    const src = join(box.base, 'src');
    buildTree(src);
    const layer = join(box.base, 'layer.tar.gz');
    execFileSync('tar', ['--format=posix', '--xattrs', '-C', src, '-czf', layer, '.']);
    const byTar = join(box.base, 'by-tar');
    mkdirSync(byTar);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', byTar, '-xzf', layer]);
    await applyLayer(streamOf(readFileSync(layer)), box.target);
    expectSameTree(describeTree(box.target), describeTree(byTar), 2e-6);
    expect(lgetxattr(join(box.target, 'usr/bin/su'), 'user.origin')?.toString()).toBe('test');
  });

  it("writes layers GNU tar extracts to the same tree as Skiff's own extraction", async () => {
    const src = join(box.base, 'src');
    buildTree(src);
    const layer = join(box.base, 'layer.tar');
    const chunks: Buffer[] = [];
    for await (const c of createLayer(src)) chunks.push(c as Buffer);
    writeFileSync(layer, Buffer.concat(chunks));
    const byTar = join(box.base, 'by-tar');
    mkdirSync(byTar);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-C', byTar, '-xf', layer]);
    await applyLayer(streamOf(readFileSync(layer)), box.target);
    expectSameTree(describeTree(box.target), describeTree(byTar), 2e-6);
    expectSameTree(describeTree(box.target), describeTree(src), 1);
  });
});
