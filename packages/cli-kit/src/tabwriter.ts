export interface AlignOptions {
  /** Minimal cell width including padding. Podman uses 12. */
  minWidth?: number;
  /** Padding added to the widest cell of a column. Podman uses 2. */
  padding?: number;
}

/**
 * Aligns tab-separated columns the way Go's text/tabwriter does with podman's settings
 * (left-aligned, space padding): a column is a run of consecutive lines that have a
 * tab-terminated cell in that position; the last cell of a line is never padded.
 */
export function alignColumns(text: string, options: AlignOptions = {}): string {
  const minWidth = options.minWidth ?? 12;
  const padding = options.padding ?? 2;
  const lines = text.split('\n').map((line) => line.split('\t'));
  const width = (s: string) => [...s].length;
  const out: string[] = lines.map(() => '');
  const widths: number[] = [];

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i]!;
      let s = '';
      cells.forEach((cell, j) => {
        s += cell;
        if (j < widths.length) s += ' '.repeat(Math.max(0, widths[j]! - width(cell)));
      });
      out[i] = s;
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      // A column block starts here: lines before it are complete.
      writeLines(line0, i);
      line0 = i;
      let w = minWidth;
      for (; i < line1; i++) {
        const cells = lines[i]!;
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column]!) + padding);
      }
      widths.push(w);
      format(line0, i);
      widths.pop();
      line0 = i;
      i--;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}
