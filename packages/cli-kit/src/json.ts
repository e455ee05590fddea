import { isGoMap, mapEntries, structEntries, Timestamp } from './template/values.js';

export interface RenderJsonOptions {
  /** Indentation per level; '' writes compact JSON like json.Marshal. Default: four spaces. */
  indent?: string;
  /** Escape <, > and & as \u003c etc., as Go's encoder does by default. Default: true. */
  escapeHtml?: boolean;
}

/**
 * JSON as Go's json.MarshalIndent writes it: struct-like objects keep their key order, Go maps
 * (`Map`, `goMap()`) are sorted by key, empty arrays and objects print as [] and {}, undefined
 * members are left out, and strings are escaped the way Go escapes them.
 */
export function renderJson(value: unknown, options: RenderJsonOptions = {}): string {
  const indent = options.indent ?? '    ';
  const escapeHtml = options.escapeHtml ?? true;
  return encode(value, '', indent, escapeHtml);
}

/** Compact JSON without HTML escaping: what podman's `{{json .}}` template function prints. */
export function renderJsonCompact(value: unknown): string {
  return renderJson(value, { indent: '', escapeHtml: false });
}

function encode(value: unknown, prefix: string, indent: string, escapeHtml: boolean): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return quoteJson(value, escapeHtml);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`json: unsupported value: ${value}`);
    return formatJsonNumber(value);
  }
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Timestamp) return quoteJson(value.rfc3339, escapeHtml);
  if (value instanceof Uint8Array) return quoteJson(Buffer.from(value).toString('base64'), false);
  const inner = prefix + indent;
  const nl = indent === '' ? '' : '\n';
  const colon = indent === '' ? ':' : ': ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v) => inner + encode(v, inner, indent, escapeHtml));
    return `[${nl}${items.join(`,${nl}`)}${nl}${prefix}]`;
  }
  if (typeof value === 'object') {
    const withToJson = value as { toJSON?: () => unknown };
    if (typeof withToJson.toJSON === 'function' && !(value instanceof Map)) {
      return encode(withToJson.toJSON(), prefix, indent, escapeHtml);
    }
    const entries = isGoMap(value) ? mapEntries(value) : structEntries(value);
    const present = entries.filter(([, v]) => v !== undefined);
    if (present.length === 0) return '{}';
    const items = present.map(
      ([k, v]) =>
        `${inner}${quoteJson(k, escapeHtml)}${colon}${encode(v, inner, indent, escapeHtml)}`,
    );
    return `{${nl}${items.join(`,${nl}`)}${nl}${prefix}}`;
  }
  throw new TypeError(`json: unsupported type: ${typeof value}`);
}

/** Go writes floats in exponent form from 1e21 and below 1e-6, with two-digit exponents. */
function formatJsonNumber(n: number): string {
  const abs = Math.abs(n);
  const s = abs !== 0 && (abs < 1e-6 || abs >= 1e21) ? n.toExponential() : String(n);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function quoteJson(s: string, escapeHtml: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else if (escapeHtml && (ch === '<' || ch === '>' || ch === '&')) {
      out += `\\u00${c.toString(16)}`;
    } else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + s[i + 1];
        i++;
      } else out += '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\ufffd';
    else out += ch;
  }
  return `${out}"`;
}
