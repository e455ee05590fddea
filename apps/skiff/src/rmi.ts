// skiff rmi, tag, untag: names and removal of stored images, with podman's messages and exit
// codes (rmi: 1 when an image is not known, 2 when one is in use).
import { formatError, UsageError } from '@skiff/cli-kit';
import { isSkiffError } from '@skiff/oci-image';
import type { ImageRecord, Store } from '@skiff/storage';
import { type GlobalOptions, withStore } from './options.js';

export interface RmiFlags {
  force?: boolean;
  all?: boolean;
  ignore?: boolean;
}

/** The stored name an argument names (so that `rmi busybox` removes just that tag). */
function namedAs(store: Store, arg: string, img: ImageRecord): string | undefined {
  if (img.id.startsWith(arg) || arg === `sha256:${img.id}` || arg.includes('@')) return undefined;
  const tail =
    arg.includes(':') && arg.lastIndexOf(':') > arg.lastIndexOf('/') ? arg : `${arg}:latest`;
  const exact = img.names.find((n) => n === arg || n === tail);
  if (exact) return exact;
  const candidates = img.names.filter((n) => n.endsWith(`/${tail}`));
  if (candidates.length === 1) return candidates[0];
  void store;
  return undefined;
}

async function removeWhole(store: Store, img: ImageRecord, force: boolean, out: string[]) {
  const r = await store.removeImage(img.id, { force });
  for (const n of r.untagged) out.push(`Untagged: ${n}`);
  for (const id of r.deleted) out.push(`Deleted: ${id}`);
}

export async function rmiCommand(
  args: string[],
  flags: RmiFlags,
  globals: GlobalOptions,
): Promise<number> {
  if (flags.all && args.length > 0) {
    throw new UsageError('when using the --all switch, you may not pass any images names or IDs');
  }
  if (!flags.all && args.length === 0) throw new UsageError('image name or ID must be specified');
  return withStore(globals, async (store) => {
    let code = 0;
    const fail = (err: unknown, exit: number) => {
      process.stderr.write(formatError(err));
      if (code === 0 || exit === 2) code = exit;
    };
    const targets: { arg: string; img?: ImageRecord }[] = flags.all
      ? store.listImages().map((img) => ({ arg: img.id, img }))
      : args.map((arg) => ({ arg }));
    const done = new Set<string>();
    for (const t of targets) {
      const lines: string[] = [];
      try {
        const img = t.img ?? store.findImage(t.arg);
        if (!img) {
          if (flags.ignore) continue;
          fail(new Error(`${t.arg}: image not known`), 1);
          continue;
        }
        if (done.has(img.id)) continue;
        const name = flags.all ? undefined : namedAs(store, t.arg, img);
        if (name !== undefined && img.names.length > 1) {
          store.untagImage(img.id, name);
          lines.push(`Untagged: ${name}`);
        } else {
          await removeWhole(store, img, Boolean(flags.force), lines);
          done.add(img.id);
        }
      } catch (err) {
        if (isSkiffError(err, 'E_IMAGE_IN_USE')) fail(err, 2);
        else if (isSkiffError(err, 'E_IMAGE_NOT_FOUND')) {
          if (!flags.ignore) fail(err, 1);
        } else fail(err, 125);
      }
      if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    }
    return code;
  });
}

export async function tagCommand(
  image: string,
  names: string[],
  globals: GlobalOptions,
): Promise<void> {
  if (names.length === 0) throw new UsageError('requires at least 2 arg(s), only received 1');
  await withStore(globals, async (store) => {
    const img = store.lookupImage(image);
    for (const n of names) {
      try {
        store.tagImage(img.id, n);
      } catch (err) {
        if (isSkiffError(err, 'E_INVALID_REFERENCE')) throw err;
        throw err;
      }
    }
  });
}

export async function untagCommand(
  image: string,
  names: string[],
  globals: GlobalOptions,
): Promise<void> {
  await withStore(globals, async (store) => {
    const img = store.lookupImage(image);
    if (names.length === 0) {
      store.untagImage(img.id);
      return;
    }
    for (const n of names) store.untagImage(img.id, n);
  });
}
