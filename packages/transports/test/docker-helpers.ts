import type { CopyEvent, CopyOptions, OpenOptions } from '../src/index.js';
import { copyImage, openDestination, openSource, verifyImage } from '../src/index.js';

/** Copies with registry options applied to both ends (local transports ignore them). */
export async function copyWith(
  from: string,
  to: string,
  openOpts: OpenOptions,
  opts: CopyOptions = {},
  dstOpts: OpenOptions = openOpts,
): Promise<{ manifestDigest: string; events: CopyEvent[] }> {
  const events: CopyEvent[] = [];
  const src = await openSource(from, openOpts);
  try {
    const dst = await openDestination(to, dstOpts);
    try {
      const res = await copyImage(src, dst, {
        ...opts,
        onEvent: (e) => {
          events.push(e);
          opts.onEvent?.(e);
        },
      });
      return { manifestDigest: res.manifestDigest, events };
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** Re-reads an image from any transport and re-derives every digest (the invariant check). */
export async function verifyWith(
  name: string,
  openOpts: OpenOptions,
  opts: Parameters<typeof verifyImage>[1] = {},
) {
  const src = await openSource(name, openOpts);
  try {
    return await verifyImage(src, opts);
  } finally {
    await src.close();
  }
}

export async function manifestOf(name: string, openOpts: OpenOptions) {
  const src = await openSource(name, openOpts);
  try {
    const m = await src.getManifest();
    return { ...m, json: JSON.parse(Buffer.from(m.raw).toString('utf8')) };
  } finally {
    await src.close();
  }
}

/** Digests of the events of one kind. */
export function eventDigests(events: CopyEvent[], type: CopyEvent['type']): string[] {
  return events
    .filter((e) => e.type === type)
    .map((e) => (e as { digest: string }).digest)
    .sort();
}
