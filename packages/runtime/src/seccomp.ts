import type { LinuxSeccomp, LinuxSyscall, SeccompProfile } from './types.js';

/** Go architecture -> the libseccomp name used by archMap. */
const NATIVE_TO_SECCOMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  '386': 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64le: 'SCMP_ARCH_MIPSEL64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390x: 'SCMP_ARCH_S390X',
};

function kernelAtLeast(kernel: string, min: string): boolean {
  const a = kernel.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/**
 * The runtime-spec seccomp filter for a profile, as containers/common's setupSeccomp does:
 * architectures from archMap for the native arch, and each syscall block kept only when its
 * includes (arches, caps in the bounding set, minKernel) hold and its excludes do not.
 */
export function translateSeccomp(
  profile: SeccompProfile,
  ctx: { arch: string; capabilities: readonly string[]; kernel: string },
): LinuxSeccomp {
  const out: LinuxSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const archs: string[] = [...(profile.architectures ?? [])];
  const native = NATIVE_TO_SECCOMP[ctx.arch];
  for (const a of profile.archMap ?? []) {
    if (a.architecture === native) {
      archs.push(a.architecture, ...(a.subArchitectures ?? []));
      break;
    }
  }
  if (archs.length > 0) out.architectures = archs;
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  const caps = new Set(ctx.capabilities);
  const syscalls: LinuxSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    const ex = call.excludes ?? {};
    const inc = call.includes ?? {};
    if (ex.arches?.includes(ctx.arch)) continue;
    if (ex.caps?.some((c) => caps.has(c))) continue;
    if (ex.minKernel && kernelAtLeast(ctx.kernel, ex.minKernel)) continue;
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(ctx.arch)) continue;
    if (inc.caps?.some((c) => !caps.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(ctx.kernel, inc.minKernel)) continue;
    const names = [...(call.names ?? []), ...(call.name ? [call.name] : [])];
    const s: LinuxSyscall = { names, action: call.action };
    if (call.errnoRet !== undefined) s.errnoRet = call.errnoRet;
    if (call.args && call.args.length > 0) {
      s.args = call.args.map((a) => ({
        index: a.index,
        value: a.value,
        valueTwo: a.valueTwo ?? 0,
        op: a.op,
      }));
    }
    syscalls.push(s);
  }
  out.syscalls = syscalls;
  return out;
}
