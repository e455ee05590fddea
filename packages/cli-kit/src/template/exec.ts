import { renderJsonCompact } from '../json.js';
import { TemplateError } from './error.js';
import {
  type Command,
  type ControlNode,
  lineCol,
  type Node,
  type Operand,
  type Pipeline,
  type Template,
} from './parse.js';
import { formatValue, goTypeName, isGoMap, isTrue, mapEntries, Timestamp } from './values.js';

/** A template function. Arguments arrive evaluated; the piped value comes last. */
export type TemplateFunction = (...args: unknown[]) => unknown;

/** Raised inside a function to report "error calling NAME: MESSAGE" like Go does. */
class CallError extends Error {}

const NO_VALUE = Symbol('no piped value');

interface Scope {
  vars: { name: string; value: unknown }[];
}

function expectString(fn: string, value: unknown, index: number): string {
  if (typeof value === 'string') return value;
  throw new CallError(
    `wrong type for value; expected string; got ${goTypeName(value)}` +
      (index >= 0 ? ` (argument ${index + 1} of ${fn})` : ''),
  );
}

function lengthOf(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length;
  if (value instanceof Map) return value.size;
  if (isGoMap(value)) return Object.keys(value).length;
  throw new CallError(`len of type ${goTypeName(value)}`);
}

function indexInto(item: unknown, key: unknown): unknown {
  if (Array.isArray(item) || typeof item === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) {
      throw new CallError(`cannot index slice/array with type ${goTypeName(key)}`);
    }
    if (key < 0 || key >= item.length) throw new CallError(`index out of range: ${key}`);
    return typeof item === 'string' ? item.charCodeAt(key) : item[key];
  }
  if (item instanceof Map) {
    return item.has(key) ? item.get(key) : missingMapValue([...item.values()]);
  }
  if (isGoMap(item)) {
    const k = String(key);
    return Object.hasOwn(item, k)
      ? (item as Record<string, unknown>)[k]
      : missingMapValue(Object.values(item));
  }
  if (item === undefined || item === null) throw new CallError('index of untyped nil');
  throw new CallError(`can't index item of type ${goTypeName(item)}`);
}

/** Go's index returns the element type's zero value for a missing key: "" for string maps. */
function missingMapValue(values: unknown[]): unknown {
  return values.every((v) => typeof v === 'string') ? '' : null;
}

/** Go's fmt.Sprintf for the verbs format strings use: %s %d %v %q %x %X %t %f %%. */
export function sprintf(format: string, ...args: unknown[]): string {
  let out = '';
  let argIndex = 0;
  const re = /%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    out += format.slice(last, m.index);
    last = re.lastIndex;
    const [, flags = '', widthText, precText, verb] = m;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argIndex++];
    let s: string;
    switch (verb) {
      case 's':
      case 'v':
        s = formatValue(arg);
        if (precText !== undefined && verb === 's') s = [...s].slice(0, Number(precText)).join('');
        break;
      case 'd':
        s =
          typeof arg === 'number' && Number.isInteger(arg)
            ? String(arg)
            : `%!d(${goTypeName(arg)}=${formatValue(arg)})`;
        break;
      case 'f':
        s =
          typeof arg === 'number'
            ? arg.toFixed(precText === undefined ? 6 : Number(precText))
            : `%!f(${goTypeName(arg)}=${formatValue(arg)})`;
        break;
      case 't':
        s = typeof arg === 'boolean' ? String(arg) : `%!t(${goTypeName(arg)}=${formatValue(arg)})`;
        break;
      case 'q':
        s = typeof arg === 'string' ? goQuote(arg) : `%!q(${goTypeName(arg)}=${formatValue(arg)})`;
        break;
      case 'x':
      case 'X': {
        const hex =
          typeof arg === 'number'
            ? arg.toString(16)
            : Buffer.from(typeof arg === 'string' ? arg : formatValue(arg)).toString('hex');
        s = verb === 'X' ? hex.toUpperCase() : hex;
        break;
      }
      default:
        s = `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
    }
    const width = widthText === undefined ? 0 : Number(widthText);
    const pad = Math.max(0, width - [...s].length);
    if (pad > 0) {
      if (flags.includes('-')) s += ' '.repeat(pad);
      else if (flags.includes('0') && /[dfxX]/.test(verb!)) {
        const sign = s.startsWith('-') ? '-' : '';
        s = sign + '0'.repeat(pad) + s.slice(sign.length);
      } else s = ' '.repeat(pad) + s;
    }
    out += s;
  }
  out += format.slice(last);
  if (argIndex < args.length) {
    out += `%!(EXTRA ${args
      .slice(argIndex)
      .map((a) => `${goTypeName(a)}=${formatValue(a)}`)
      .join(', ')})`;
  }
  return out;
}

/** Go's strconv.Quote: double quotes, Go escapes, printable Unicode kept. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function goTitle(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_])(\p{L})/gu, (_m, sep: string, letter: string) => {
    return sep + letter.toUpperCase();
  });
}

function compareValues(fn: string, a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new CallError(`incompatible types for comparison (argument of ${fn})`);
}

/** The functions every `--format` template has: Go's built-ins plus the ones podman adds. */
export const builtinFunctions: Record<string, TemplateFunction> = {
  json: (v) => renderJsonCompact(v === undefined ? null : v),
  upper: (s) => expectString('upper', s, 0).toUpperCase(),
  lower: (s) => expectString('lower', s, 0).toLowerCase(),
  title: (s) => goTitle(expectString('title', s, 0)),
  join: (list, sep) => {
    if (!Array.isArray(list)) {
      throw new CallError(`wrong type for value; expected []string; got ${goTypeName(list)}`);
    }
    return list.map((v) => expectString('join', v, -1)).join(expectString('join', sep, 1));
  },
  split: (s, sep) => expectString('split', s, 0).split(expectString('split', sep, 1)),
  truncate: (s, n) => {
    const str = expectString('truncate', s, 0);
    return typeof n === 'number' && str.length > n ? str.slice(0, n) : str;
  },
  len: (v) => lengthOf(v),
  index: (item, ...keys) => keys.reduce<unknown>((acc, key) => indexInto(acc, key), item),
  printf: (format, ...args) => sprintf(expectString('printf', format, 0), ...args),
  print: (...args) =>
    args
      .map((a, i) => {
        const prev = args[i - 1];
        const spaced = i > 0 && typeof a !== 'string' && typeof prev !== 'string';
        return (spaced ? ' ' : '') + formatValue(a);
      })
      .join(''),
  println: (...args) => `${args.map((a) => formatValue(a)).join(' ')}\n`,
  not: (v) => !isTrue(v),
  and: (...args) => {
    for (const a of args) if (!isTrue(a)) return a;
    return args[args.length - 1];
  },
  or: (...args) => {
    for (const a of args) if (isTrue(a)) return a;
    return args[args.length - 1];
  },
  eq: (a, ...rest) => {
    if (rest.length === 0) throw new CallError('missing argument for comparison');
    return rest.some(
      (b) =>
        a === b || (a instanceof Timestamp && b instanceof Timestamp && a.rfc3339 === b.rfc3339),
    );
  },
  ne: (a, b) => a !== b,
  lt: (a, b) => compareValues('lt', a, b) < 0,
  le: (a, b) => compareValues('le', a, b) <= 0,
  gt: (a, b) => compareValues('gt', a, b) > 0,
  ge: (a, b) => compareValues('ge', a, b) >= 0,
};

export interface ExecuteOptions {
  /** Extra functions (or overrides) on top of the built-ins. */
  functions?: Record<string, TemplateFunction>;
}

class Executor {
  private out = '';
  private readonly functions: Record<string, TemplateFunction>;

  constructor(
    private readonly tmpl: Template,
    private readonly root: unknown,
    options: ExecuteOptions,
  ) {
    this.functions = { ...builtinFunctions, ...options.functions };
    this.checkFunctions(tmpl.nodes);
  }

  run(): string {
    this.walk(this.tmpl.nodes, this.root, { vars: [{ name: '$', value: this.root }] });
    return this.out;
  }

  /** Go reports undefined functions when parsing, before any output. */
  private checkFunctions(nodes: Node[]): void {
    const checkPipeline = (p: Pipeline) => {
      for (const cmd of p.cmds) {
        for (const arg of cmd.args) {
          if (arg.kind === 'ident' && !(arg.name in this.functions)) {
            const { line } = lineCol(this.tmpl.source, arg.pos);
            throw new TemplateError(
              `template: ${this.tmpl.name}:${line}: function "${arg.name}" not defined`,
            );
          }
          if (arg.kind === 'paren') checkPipeline(arg.pipeline);
        }
      }
    };
    for (const node of nodes) {
      if (node.kind === 'text') continue;
      checkPipeline(node.pipeline);
      if (node.kind !== 'action') {
        this.checkFunctions(node.list);
        if (node.elseList) this.checkFunctions(node.elseList);
      }
    }
  }

  private fail(pos: number, text: string, message: string): never {
    const { line, col } = lineCol(this.tmpl.source, pos);
    const name = this.tmpl.name;
    throw new TemplateError(
      `template: ${name}:${line}:${col}: executing "${name}" at <${text}>: ${message}`,
    );
  }

  private walk(nodes: Node[], dot: unknown, scope: Scope): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          this.out += node.text;
          break;
        case 'action': {
          const value = this.evalPipeline(node.pipeline, dot, scope);
          if (node.pipeline.decls.length === 0) this.out += this.printable(value, node.pipeline);
          break;
        }
        case 'if':
        case 'with': {
          const inner: Scope = { vars: [...scope.vars] };
          const value = this.evalPipeline(node.pipeline, dot, inner);
          if (isTrue(value)) this.walk(node.list, node.kind === 'with' ? value : dot, inner);
          else if (node.elseList) this.walk(node.elseList, dot, scope);
          break;
        }
        case 'range':
          this.walkRange(node, dot, scope);
          break;
      }
    }
  }

  private walkRange(node: ControlNode, dot: unknown, scope: Scope): void {
    const p = node.pipeline;
    const value = this.evalPipeline({ ...p, decls: [] }, dot, scope);
    let entries: [unknown, unknown][];
    if (value === undefined || value === null) entries = [];
    else if (Array.isArray(value)) entries = value.map((v, i) => [i, v]);
    else if (value instanceof Map || isGoMap(value)) entries = mapEntries(value);
    else if (typeof value === 'number' && Number.isInteger(value)) {
      entries = Array.from({ length: Math.max(0, value) }, (_, i) => [i, i]);
    } else {
      this.fail(p.pos, p.text, `range can't iterate over ${formatValue(value)}`);
    }
    if (entries.length === 0) {
      if (node.elseList) this.walk(node.elseList, dot, scope);
      return;
    }
    for (const [key, elem] of entries) {
      const vars = [...scope.vars];
      if (p.decls.length === 1) vars.push({ name: p.decls[0]!, value: elem });
      else if (p.decls.length === 2) {
        vars.push({ name: p.decls[0]!, value: key }, { name: p.decls[1]!, value: elem });
      }
      this.walk(node.list, elem, { vars });
    }
  }

  /** What an action prints: Go prints "<no value>" for a missing map entry. */
  private printable(value: unknown, p: Pipeline): string {
    if (typeof value === 'function') this.fail(p.pos, p.text, "can't print a function");
    return formatValue(value);
  }

  private evalPipeline(p: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown = NO_VALUE;
    for (const cmd of p.cmds) value = this.evalCommand(cmd, dot, scope, value);
    if (p.decls.length > 0) {
      const name = p.decls[0]!;
      if (p.assign) {
        const existing = [...scope.vars].reverse().find((v) => v.name === name);
        if (!existing) this.fail(p.pos, p.text, `undefined variable: ${name}`);
        existing.value = value;
      } else scope.vars.push({ name, value });
    }
    return value;
  }

  private evalCommand(cmd: Command, dot: unknown, scope: Scope, piped: unknown): unknown {
    const [first, ...rest] = cmd.args;
    if (first === undefined) return piped;
    if (first.kind === 'ident') {
      const fn = this.functions[first.name]!;
      const args = rest.map((a) => this.evalArg(a, dot, scope));
      if (piped !== NO_VALUE) args.push(piped);
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof TemplateError) throw err;
        const message = err instanceof Error ? err.message : String(err);
        this.fail(first.pos, first.text, `error calling ${first.name}: ${message}`);
      }
    }
    if (rest.length > 0 || piped !== NO_VALUE) {
      this.fail(first.pos, first.text, `can't give argument to non-function ${first.text}`);
    }
    return this.evalArg(first, dot, scope);
  }

  private evalArg(arg: Operand, dot: unknown, scope: Scope): unknown {
    switch (arg.kind) {
      case 'dot':
        return dot;
      case 'literal':
        return arg.value;
      case 'field':
        return this.evalFields(dot, arg.names, arg);
      case 'var': {
        const found = [...scope.vars].reverse().find((v) => v.name === arg.name);
        if (!found) this.fail(arg.pos, arg.text, `undefined variable: ${arg.name}`);
        return this.evalFields(found.value, arg.names, arg);
      }
      case 'paren':
        return this.evalFields(this.evalPipeline(arg.pipeline, dot, scope), arg.names, arg);
      case 'ident': {
        // A function used as an argument is called without arguments, as Go does.
        const fn = this.functions[arg.name]!;
        return fn();
      }
    }
  }

  private evalFields(receiver: unknown, names: string[], node: Operand): unknown {
    let value = receiver;
    for (const name of names) value = this.evalField(value, name, node);
    return value;
  }

  private evalField(receiver: unknown, name: string, node: Operand): unknown {
    if (receiver === undefined || receiver === null) return undefined;
    if (receiver instanceof Map) return receiver.get(name);
    if (isGoMap(receiver)) {
      return Object.hasOwn(receiver, name)
        ? (receiver as Record<string, unknown>)[name]
        : undefined;
    }
    if (
      typeof receiver === 'object' &&
      !Array.isArray(receiver) &&
      !(receiver instanceof Timestamp) &&
      Object.hasOwn(receiver, name)
    ) {
      return (receiver as Record<string, unknown>)[name];
    }
    this.fail(node.pos, node.text, `can't evaluate field ${name} in type ${goTypeName(receiver)}`);
  }
}

/** Executes a parsed template against `data`; `$` is `data`. */
export function executeTemplate(
  tmpl: Template,
  data: unknown,
  options: ExecuteOptions = {},
): string {
  return new Executor(tmpl, data, options).run();
}
