import { copyImage, openDestination, openSource, verifyImage } from '../src/index.js';

export async function copy(
  from: string,
  to: string,
  opts: Parameters<typeof copyImage>[2] = {},
  destOpts: Parameters<typeof openDestination>[1] = {},
) {
  const src = await openSource(from);
  try {
    const dst = await openDestination(to, destOpts);
    try {
      return await copyImage(src, dst, opts);
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

export async function verify(name: string, opts: Parameters<typeof verifyImage>[1] = {}) {
  const src = await openSource(name);
  try {
    return await verifyImage(src, opts);
  } finally {
    await src.close();
  }
}

export async function readManifest(name: string) {
  const src = await openSource(name);
  try {
    const m = await src.getManifest();
    return { ...m, json: JSON.parse(Buffer.from(m.raw).toString('utf8')) };
  } finally {
    await src.close();
  }
}
