import { readFileSync } from 'node:fs';

/** The start time of a process (clock ticks since boot), which tells a pid reused from ours. */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ..." — comm may hold spaces and parentheses: split after the last ")".
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  // A zombie has ended; PID 1 here does not reap, so kill(pid, 0) would lie.
  if (state === 'Z' || state === 'X') return undefined;
  return rest[19];
}

let self: { pid: number; start: string } | undefined;

export function selfProcess(): { pid: number; start: string } {
  self ??= { pid: process.pid, start: processStart(process.pid) ?? '0' };
  return self;
}

/** Whether the process `pid` that started at `start` still runs. */
export function processAlive(pid: number, start: string): boolean {
  if (pid === process.pid) return start === selfProcess().start;
  return processStart(pid) === start;
}

/** Whether the process `pid` runs at all (for temp names that carry only a pid). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  return processStart(pid) !== undefined;
}
