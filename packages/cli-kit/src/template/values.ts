/**
 * How JavaScript values stand in for Go values in templates and JSON output.
 *
 * Go distinguishes structs (fields in declaration order; an unknown field is an error) from
 * maps (keys sorted when printed or marshalled; a missing key is "<no value>"). Plain objects
 * act as structs; `Map` instances and objects passed through `goMap()` act as maps.
 */

const mapObjects = new WeakSet<object>();
const typeNames = new WeakMap<object, string>();

/** Marks a plain object as a Go map: sorted keys in output, missing keys are not errors. */
export function goMap<T extends object>(obj: T): T {
  mapObjects.add(obj);
  return obj;
}

/** Names the Go type of a struct-like object, for "can't evaluate field" messages. */
export function goStruct<T extends object>(typeName: string, obj: T): T {
  typeNames.set(obj, typeName);
  return obj;
}

export function isGoMap(value: unknown): value is Map<unknown, unknown> | Record<string, unknown> {
  return (
    value instanceof Map || (typeof value === 'object' && value !== null && mapObjects.has(value))
  );
}

/** A timestamp that prints like Go's time.Time and marshals to the RFC 3339 text it came from. */
export class Timestamp {
  readonly rfc3339: string;

  constructor(rfc3339: string) {
    this.rfc3339 = rfc3339;
  }

  /** Go's time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST". */
  toString(): string {
    const m = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(
      this.rfc3339,
    );
    if (!m) return this.rfc3339;
    const frac = (m[3] ?? '').replace(/0+$/, '');
    const fraction = frac === '.' ? '' : frac;
    const zone = m[4]!;
    if (zone === 'Z' || zone === 'z') return `${m[1]} ${m[2]}${fraction} +0000 UTC`;
    const offset = zone.replace(':', '');
    return `${m[1]} ${m[2]}${fraction} ${offset} ${offset}`;
  }

  toJSON(): string {
    return this.rfc3339;
  }
}

/** The Go type name used in error messages. */
export function goTypeName(value: unknown): string {
  if (value === undefined || value === null) return 'interface {}';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float64';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return '[]interface {}';
  if (value instanceof Timestamp) return 'time.Time';
  if (isGoMap(value)) return 'map[string]interface {}';
  if (typeof value === 'object') return typeNames.get(value) ?? 'interface {}';
  return 'interface {}';
}

export function mapEntries(value: object): [string, unknown][] {
  const entries: [string, unknown][] =
    value instanceof Map
      ? [...value.entries()].map(([k, v]) => [String(k), v])
      : Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function structEntries(value: object): [string, unknown][] {
  return Object.entries(value).filter(([, v]) => v !== undefined);
}

/** Go's fmt %v for the values templates see. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Timestamp) return value.toString();
  if (Array.isArray(value)) return `[${value.map((v) => formatValue(v ?? null)).join(' ')}]`;
  if (value instanceof Uint8Array) return `[${[...value].join(' ')}]`;
  if (isGoMap(value)) {
    return `map[${mapEntries(value)
      .map(([k, v]) => `${k}:${formatValue(v ?? null)}`)
      .join(' ')}]`;
  }
  if (typeof value === 'object') {
    return `{${structEntries(value)
      .map(([, v]) => formatValue(v))
      .join(' ')}}`;
  }
  return String(value);
}

/** Go prints floats with %v as strconv 'g' with the shortest representation. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  // Go's %v switches to exponent form below 1e-4 (JavaScript only below 1e-6) and from 1e21,
  // and writes at least two exponent digits.
  const abs = Math.abs(n);
  const s = abs !== 0 && abs < 1e-4 ? n.toExponential() : String(n);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Go's template truth: zero values and empty collections are false. */
export function isTrue(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value.length > 0;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  if (isGoMap(value)) return Object.keys(value).length > 0;
  return true;
}
