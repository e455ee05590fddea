// Small pieces several skiff commands share: flag parsing, error-code tests, prompts and
// podman's inspect indentation.
import { createInterface } from 'node:readline';
import { UsageError } from '@skiff/cli-kit';

/** podman prints inspect JSON indented by five spaces. */
export const INSPECT_INDENT = '     ';

/** Whether an error carries one of the given SkiffError codes. */
export function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as { code?: string }).code ?? '');
}

/** `--label k=v`-style flags as a map; a bare key maps to the empty string. */
export function keyValues(flag: string, entries: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    if (key === '') throw new UsageError(`invalid ${flag} "${e}": the key is empty`);
    out[key] = eq < 0 ? '' : e.slice(eq + 1);
  }
  return out;
}

/** A `name=` filter's regular expression, or a usage error naming it. */
export function safeRegExp(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch {
    throw new UsageError(`invalid name filter "${text}": not a regular expression`);
  }
}

/** Asks a yes/no question on stdin, as podman's prune commands do without -f. */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const rl = createInterface({ input: process.stdin });
  try {
    for await (const line of rl) return /^y(es)?$/i.test(line.trim());
    return false;
  } finally {
    rl.close();
  }
}
