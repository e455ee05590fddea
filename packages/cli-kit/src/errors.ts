import { isSkiffError, SkiffError } from '@skiff/oci-image';

/** A command line that cannot be run as written: wrong arguments, unknown or invalid flags. */
export class UsageError extends SkiffError {
  constructor(message: string, options: { hint?: string } = {}) {
    super('E_USAGE', message, options);
    this.name = 'UsageError';
  }
}

export interface ExitCodes {
  /** Any failure not listed below. skopeo and buildah use 1, podman 125. */
  failure: number;
  /** Usage errors (E_USAGE). skopeo uses 1, podman 125. */
  usage: number;
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: number;
  /** Exit codes for specific SkiffError codes. */
  byCode?: Record<string, number>;
}

/** skopeo's convention: every failure, usage errors included, exits with 1. */
export const skopeoExitCodes: ExitCodes = { failure: 1, usage: 1, interrupted: 130 };

export function exitCodeFor(err: unknown, codes: ExitCodes = skopeoExitCodes): number {
  if (isSkiffError(err)) {
    const mapped = codes.byCode?.[err.code];
    if (mapped !== undefined) return mapped;
    if (err.code === 'E_USAGE') return codes.usage;
    if (err.code === 'E_ABORTED') return codes.interrupted;
  }
  return codes.failure;
}

/**
 * The text printed for an error: "Error: MESSAGE" and the hint on its own line. Skiff's
 * messages already say what failed and why; with `debug`, the causes and the stack follow.
 */
export function formatError(err: unknown, options: { debug?: boolean } = {}): string {
  if (!(err instanceof Error)) return `Error: ${String(err)}\n`;
  let out = `Error: ${err.message}\n`;
  if (err instanceof SkiffError && err.hint) out += `Hint: ${err.hint}\n`;
  if (options.debug) {
    if (err.stack) out += `${err.stack}\n`;
    let cause: unknown = err.cause;
    for (let depth = 0; cause !== undefined && depth < 5; depth++) {
      out += `Caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return out;
}

export interface RunCliOptions {
  exitCodes?: ExitCodes;
  /** Print stacks with errors (e.g. --debug or SKIFF_DEBUG=1). */
  debug?: boolean;
  stderr?: { write(s: string): unknown };
}

/**
 * Runs a CLI's main function: passes an AbortSignal that SIGINT/SIGTERM trigger (a second
 * signal exits at once), exits with the number main returns (or 0), prints a failure as "Error: ..." with its hint on stderr, and exits
 * with the mapped code once stdout has drained. A closed stdout pipe (`| head`) ends quietly.
 */
export async function runCli(
  main: (signal: AbortSignal) => Promise<unknown>,
  options: RunCliOptions = {},
): Promise<never> {
  const codes = options.exitCodes ?? skopeoExitCodes;
  const stderr = options.stderr ?? process.stderr;
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(codes.interrupted);
    controller.abort(new SkiffError('E_ABORTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  let code: number;
  try {
    const result = await main(controller.signal);
    code = typeof result === 'number' ? result : 0;
  } catch (err) {
    const debug = options.debug ?? Boolean(process.env.SKIFF_DEBUG);
    stderr.write(formatError(err, { debug }));
    code = exitCodeFor(err, codes);
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
