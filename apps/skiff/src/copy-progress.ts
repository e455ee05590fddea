// The lines podman prints around a copy into or out of storage, on stderr so that stdout
// carries only the result (an image id).
import { CopyProgress } from '@skiff/cli-kit';
import type { CopyOptions } from '@skiff/transports';

export interface CopyReporter {
  /** Events to pass to copyImage (undefined when quiet). */
  onEvent: CopyOptions['onEvent'];
  start(): void;
  /** After the manifest is written. */
  done(): void;
  /** Ends any live drawing (on failure too). */
  stop(): void;
  line(text: string): void;
}

export function copyReporter(quiet: boolean | undefined): CopyReporter {
  if (quiet) {
    return { onEvent: undefined, start() {}, done() {}, stop() {}, line() {} };
  }
  const progress = new CopyProgress(process.stderr);
  return {
    onEvent: progress.onEvent,
    start: () => progress.start(),
    done: () => {
      progress.finish();
      process.stderr.write('Storing signatures\n');
    },
    stop: () => progress.finish(),
    line: (text) => process.stderr.write(`${text}\n`),
  };
}
