import { alignColumns } from './tabwriter.js';
import { type ExecuteOptions, executeTemplate } from './template/exec.js';
import { type Node, type Operand, type Pipeline, parseTemplate } from './template/parse.js';

export interface FormatOptions extends ExecuteOptions {
  /** The template's name in error messages (podman uses the command name). */
  name?: string;
  /** Column headers by field name for `table` formats, e.g. { ID: 'IMAGE ID' }. */
  headers?: Record<string, string>;
}

export interface NormalizedFormat {
  table: boolean;
  template: string;
}

/**
 * Interprets a `--format` string as podman does: a leading "table " asks for a header row and
 * aligned columns (spaces between actions become column breaks), the two-character escapes
 * `\t` and `\n` typed on a shell command line become tab and newline, and the output ends with
 * a newline. Escapes inside {{ }} are left to the template's own string literals.
 */
export function normalizeFormat(format: string): NormalizedFormat {
  const table = format.startsWith('table ') || format === 'table';
  const body = table ? format.slice(6) : format;
  let out = '';
  let pos = 0;
  while (pos < body.length) {
    const open = body.indexOf('{{', pos);
    const text = open === -1 ? body.slice(pos) : body.slice(pos, open);
    let replaced = text.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
    if (table) replaced = replaced.replaceAll(' ', '\t');
    out += replaced;
    if (open === -1) break;
    const close = body.indexOf('}}', open + 2);
    const end = close === -1 ? body.length : close + 2;
    out += body.slice(open, end);
    pos = end;
  }
  if (!out.endsWith('\n')) out += '\n';
  return { table, template: out };
}

/** Whether a --format value asks for JSON output rather than a template. */
export function isJsonFormat(format: string | undefined): boolean {
  return format !== undefined && format.trim().toLowerCase() === 'json';
}

/**
 * Renders one value with a `--format` template (skopeo inspect, podman inspect). A `table`
 * format prints a header row and aligns the single row under it.
 */
export function renderTemplate(format: string, data: unknown, options: FormatOptions = {}): string {
  return renderRows(format, [data], options);
}

/**
 * Renders a list with a `--format` template, once per row (podman images, ps). A `table`
 * format adds a header row derived from the field names and aligns columns like Go's
 * tabwriter with podman's settings.
 */
export function renderRows(
  format: string,
  rows: readonly unknown[],
  options: FormatOptions = {},
): string {
  const { table, template } = normalizeFormat(format);
  const tmpl = parseTemplate(template, options.name ?? '');
  let out = '';
  if (table) out += headerRow(tmpl.nodes, options.headers ?? {});
  for (const row of rows) out += executeTemplate(tmpl, row, options);
  return table ? alignColumns(out) : out;
}

/** "CreatedAt" -> "CREATED AT", "ImageID" -> "IMAGE ID", as podman titles its columns. */
export function headerForField(name: string): string {
  const words = name.match(/[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+/g) ?? [name];
  return words.join(' ').toUpperCase();
}

function firstField(p: Pipeline): string | undefined {
  const visit = (args: Operand[]): string | undefined => {
    for (const arg of args) {
      if (arg.kind === 'field') return arg.names[arg.names.length - 1];
      if ((arg.kind === 'var' || arg.kind === 'paren') && arg.names.length > 0) {
        return arg.names[arg.names.length - 1];
      }
      if (arg.kind === 'paren') {
        const inner = firstField(arg.pipeline);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  for (const cmd of p.cmds) {
    const found = visit(cmd.args);
    if (found !== undefined) return found;
  }
  return undefined;
}

function headerRow(nodes: Node[], headers: Record<string, string>): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'action') {
      const field = firstField(node.pipeline);
      if (field !== undefined) out += headers[field] ?? headerForField(field);
    }
  }
  return out.endsWith('\n') ? out : `${out}\n`;
}
