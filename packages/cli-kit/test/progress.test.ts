import { describe, expect, it } from 'vitest';
import { CopyProgress, formatBytes } from '../src/index.js';

function capture(columns = 100) {
  const chunks: string[] = [];
  return { out: { write: (s: string) => chunks.push(s), columns }, text: () => chunks.join('') };
}

/** Replays cursor-up, clear-line and carriage return to get what a terminal shows. */
function screen(output: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  const re = /\x1b\[(\d*)([AK])|\r|\n|[^\x1b\r\n]+/g;
  for (let m = re.exec(output); m !== null; m = re.exec(output)) {
    const token = m[0];
    if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1));
    else if (m[2] === 'K') lines[row] = '';
    else if (token === '\r') continue;
    else if (token === '\n') {
      row++;
      if (lines[row] === undefined) lines[row] = '';
    } else lines[row] = (lines[row] ?? '') + token;
  }
  return lines.filter((l, i) => l !== '' || i < lines.length - 1);
}

const L1 = `sha256:${'1'.repeat(64)}`;
const L2 = `sha256:${'2'.repeat(64)}`;
const CFG = `sha256:${'c'.repeat(64)}`;

describe('copy progress without a terminal', () => {
  it('prints one plain line per blob, the config and the manifest, like skopeo', () => {
    const { out, text } = capture();
    const p = new CopyProgress(out, { tty: false });
    p.start();
    p.onEvent({ type: 'blob-start', digest: L1, size: 10 });
    p.onEvent({ type: 'blob-progress', digest: L1, bytes: 5, size: 10 });
    p.onEvent({ type: 'blob-skipped', digest: L2, size: 7 });
    p.onEvent({ type: 'blob-done', digest: L1, size: 10 });
    p.onEvent({ type: 'config', digest: CFG });
    p.onEvent({ type: 'manifest', digest: 'sha256:m' });
    p.finish();
    expect(text()).toBe(
      [
        'Getting image source signatures',
        `Copying blob ${L2} skipped: already exists`,
        `Copying blob ${L1} done`,
        `Copying config ${CFG} done`,
        'Writing manifest to image destination',
        '',
      ].join('\n'),
    );
  });
});

describe('copy progress for blobs the destination has', () => {
  it('lists an already present config as the config, not as a skipped blob', () => {
    const { out, text } = capture();
    const p = new CopyProgress(out, { tty: false });
    p.onEvent({ type: 'blob-skipped', digest: L1, size: 10 });
    p.onEvent({ type: 'blob-skipped', digest: CFG, size: 5 });
    p.onEvent({ type: 'config', digest: CFG });
    p.onEvent({ type: 'manifest', digest: 'sha256:m' });
    p.onEvent({ type: 'blob-skipped', digest: L2, size: 10 });
    p.finish();
    expect(text()).toBe(
      [
        `Copying blob ${L1} skipped: already exists`,
        `Copying config ${CFG} done`,
        'Writing manifest to image destination',
        `Copying blob ${L2} skipped: already exists`,
        '',
      ].join('\n'),
    );
  });

  it('replaces the config blob bar with the config line on a terminal', () => {
    const { out, text } = capture();
    const p = new CopyProgress(out, { tty: true });
    p.onEvent({ type: 'blob-skipped', digest: L1, size: 10 });
    p.onEvent({ type: 'blob-skipped', digest: CFG, size: 5 });
    p.onEvent({ type: 'config', digest: CFG });
    p.finish();
    expect(screen(text())).toEqual([
      'Copying blob 111111111111 skipped: already exists',
      'Copying config cccccccccccc done',
    ]);
  });
});

describe('copy progress on a terminal', () => {
  it('draws live bars with bytes and speed and leaves the final states on screen', () => {
    const { out, text } = capture();
    let now = 0;
    const p = new CopyProgress(out, { tty: true, now: () => now, redrawMs: 0 });
    p.start();
    p.onEvent({ type: 'blob-start', digest: L1, size: 4 * 1024 * 1024 });
    p.onEvent({ type: 'blob-start', digest: L2, size: 2048 });
    now = 1000;
    p.onEvent({ type: 'blob-progress', digest: L1, bytes: 1024 * 1024, size: 4 * 1024 * 1024 });
    const live = screen(text());
    expect(live[0]).toBe('Getting image source signatures');
    expect(live[1]).toMatch(
      /^Copying blob 111111111111 \[=+>-+\] 1\.0MiB \/ 4\.0MiB \| 1\.0MiB\/s$/,
    );
    expect(live[2]).toMatch(/^Copying blob 222222222222 \[-+\] 0B \/ 2\.0KiB \| 0B\/s$/);
    p.onEvent({ type: 'blob-done', digest: L2, size: 2048 });
    p.onEvent({ type: 'blob-done', digest: L1, size: 4 * 1024 * 1024 });
    p.onEvent({ type: 'config', digest: CFG });
    p.onEvent({ type: 'manifest', digest: 'sha256:m' });
    p.finish();
    expect(screen(text())).toEqual([
      'Getting image source signatures',
      'Copying blob 111111111111 done',
      'Copying blob 222222222222 done',
      'Copying config cccccccccccc done',
      'Writing manifest to image destination',
    ]);
  });

  it('throttles redraws caused by progress alone', () => {
    const { out, text } = capture();
    let now = 0;
    const p = new CopyProgress(out, { tty: true, now: () => now, redrawMs: 100 });
    p.onEvent({ type: 'blob-start', digest: L1, size: 100 });
    const before = text().length;
    now = 10;
    p.onEvent({ type: 'blob-progress', digest: L1, bytes: 50, size: 100 });
    expect(text().length).toBe(before);
    now = 200;
    p.onEvent({ type: 'blob-progress', digest: L1, bytes: 60, size: 100 });
    expect(screen(text())).toEqual([expect.stringContaining('60B / 100B')]);
  });

  it('shows reused blobs as skipped', () => {
    const { out, text } = capture();
    const p = new CopyProgress(out, { tty: true });
    p.onEvent({ type: 'blob-reused', digest: L1 });
    expect(screen(text())).toEqual(['Copying blob 111111111111 skipped: already exists']);
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal', () => {
    expect(formatBytes(0)).toBe('0B');
    expect(formatBytes(1023)).toBe('1023B');
    expect(formatBytes(1536)).toBe('1.5KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0GiB');
  });
});
