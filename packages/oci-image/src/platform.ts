import { ErrorCode, SkiffError } from './errors.js';
import type { IndexDoc } from './manifest.js';
import type { Descriptor, Platform } from './schemas.js';

const COMPONENT = /^[a-z0-9_.-]+$/;

/** Parses "os/arch[/variant]" as --platform takes it; E_INVALID_PLATFORM naming the problem. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().split('/');
  if (parts.length < 2 || parts.length > 3) {
    throw new SkiffError(
      ErrorCode.InvalidPlatform,
      `invalid platform ${JSON.stringify(s)}: expected os/arch or os/arch/variant, e.g. linux/arm64/v8`,
    );
  }
  const names = ['os', 'architecture', 'variant'];
  const lowered = parts.map((p) => p.toLowerCase());
  lowered.forEach((p, i) => {
    if (!COMPONENT.test(p)) {
      throw new SkiffError(
        ErrorCode.InvalidPlatform,
        `invalid platform ${JSON.stringify(s)}: ${names[i]} ${JSON.stringify(parts[i])} ${p === '' ? 'is empty' : 'may hold only letters, digits, "_", "." and "-"'}`,
      );
    }
  });
  const p: Platform = { os: lowered[0]!, architecture: lowered[1]! };
  if (lowered[2] !== undefined) p.variant = lowered[2];
  return p;
}

/** "linux/arm64/v8": os/architecture and the variant when there is one. */
export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * The canonical form of a platform: Go's architecture names (aarch64 -> arm64, x86_64 ->
 * amd64, armhf -> arm v7, i686 -> 386), variants with their "v" (arm 7 -> v7), arm64's default
 * variant v8 and arm's default v7 filled in, amd64's baseline v1 dropped.
 */
export function normalizePlatform<P extends Platform>(p: P): P {
  const out = { ...p };
  const os = p.os.toLowerCase();
  out.os = os === 'macos' ? 'darwin' : os;
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
    case 'x64':
      arch = 'amd64';
      break;
    case 'aarch64':
      arch = 'arm64';
      break;
    case 'armhf':
      arch = 'arm';
      variant ??= 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant ??= 'v6';
      break;
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
    case 'x86':
    case 'ia32':
      arch = '386';
      break;
  }
  if (variant !== undefined && /^\d+(\.\d+)?$/.test(variant)) variant = `v${variant}`;
  if (arch === 'arm64') variant = variant === undefined || variant === 'v8.0' ? 'v8' : variant;
  if (arch === 'arm') variant ??= 'v7';
  if (arch === 'amd64' && variant === 'v1') variant = undefined;
  out.architecture = arch;
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  return out;
}

/** The platform Skiff runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const osNames: Record<string, string> = { win32: 'windows', sunos: 'solaris' };
  const os = osNames[process.platform] ?? process.platform;
  const archNames: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64le',
    mipsel: 'mipsle',
  };
  let architecture = archNames[process.arch] ?? process.arch;
  if (
    architecture === 'ppc64le' &&
    (process.config.variables as Record<string, unknown>).node_byteorder === 'big'
  ) {
    architecture = 'ppc64';
  }
  const p: Platform = { os, architecture };
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    if (typeof v === 'string' || typeof v === 'number') p.variant = `v${v}`;
  }
  return normalizePlatform(p);
}

// Variants a CPU of a given variant can also run, best first.
const compatibleVariants: Record<string, string[]> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v9', 'v8'],
  amd64: ['v4', 'v3', 'v2'],
};

function variantsFor(arch: string, variant: string): string[] {
  const order = compatibleVariants[arch];
  const i = order?.indexOf(variant) ?? -1;
  return i === -1 ? [variant] : order!.slice(i);
}

/**
 * Whether an image for `have` can run where `want` is wanted: same os and architecture (after
 * normalization) and, when `want` names a variant, `have`'s variant is that one or an older one
 * the CPU also runs (arm v7 runs v6), or `have` names none.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (w.variant === undefined || h.variant === undefined) return true;
  return variantsFor(w.architecture, w.variant).includes(h.variant);
}

/**
 * The index entry to use for a platform, chosen the way containers/image does: among entries
 * for the same os and architecture, an exact variant match wins, then older compatible
 * variants in order, then an entry without a variant; with no wanted variant, an entry
 * without a variant, then the first entry. arm64 and arm64/v8 are the same platform, as are
 * amd64 and amd64/v1. E_NO_MATCHING_PLATFORM lists what the index has.
 */
export function selectPlatformManifest(
  index: Pick<IndexDoc, 'manifests'>,
  want: Platform,
): Descriptor {
  const w = normalizePlatform(want);
  const candidates: { d: Descriptor; p: Platform }[] = [];
  for (const d of index.manifests) {
    if (!d.platform) continue;
    const p = normalizePlatform(d.platform);
    if (p.os === w.os && p.architecture === w.architecture) candidates.push({ d, p });
  }
  const order: (string | undefined)[] =
    w.variant === undefined ? [undefined] : [...variantsFor(w.architecture, w.variant), undefined];
  for (const v of order) {
    const hit = candidates.find((c) => c.p.variant === v);
    if (hit) return hit.d;
  }
  if (w.variant === undefined && candidates[0]) return candidates[0].d;
  const available = index.manifests
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform!));
  throw new SkiffError(
    ErrorCode.NoMatchingPlatform,
    `no image for ${formatPlatform(w)} in the index; it has ${available.length > 0 ? [...new Set(available)].join(', ') : 'no platform-specific images'}`,
    { hint: 'choose one of those with --platform (or --arch/--os/--variant), or copy with --all' },
  );
}
