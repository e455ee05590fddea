import { TemplateError } from './error.js';

/**
 * Parser for the subset of Go's text/template that container CLIs use in `--format`: fields,
 * variables, literals, pipelines, function calls, parentheses, if/else if/else, range (with
 * variable declarations), with, comments and {{- -}} trim markers.
 */

export type Operand =
  | { kind: 'dot'; pos: number; text: string }
  | { kind: 'field'; names: string[]; pos: number; text: string }
  | { kind: 'var'; name: string; names: string[]; pos: number; text: string }
  | { kind: 'ident'; name: string; pos: number; text: string }
  | { kind: 'literal'; value: string | number | boolean | null; pos: number; text: string }
  | { kind: 'paren'; pipeline: Pipeline; names: string[]; pos: number; text: string };

export interface Command {
  args: Operand[];
  pos: number;
}

export interface Pipeline {
  decls: string[];
  /** `=` assigns an existing variable instead of declaring a new one. */
  assign: boolean;
  cmds: Command[];
  pos: number;
  text: string;
}

export interface ControlNode {
  kind: 'if' | 'range' | 'with';
  pipeline: Pipeline;
  list: Node[];
  elseList: Node[] | undefined;
  pos: number;
}

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline; pos: number }
  | ControlNode;

export interface Template {
  name: string;
  source: string;
  nodes: Node[];
}

type Token =
  | { t: 'field'; names: string[]; pos: number; end: number }
  | { t: 'dot'; pos: number; end: number }
  | { t: 'var'; name: string; names: string[]; pos: number; end: number }
  | { t: 'ident'; name: string; pos: number; end: number }
  | { t: 'string'; value: string; pos: number; end: number }
  | { t: 'number'; value: number; pos: number; end: number }
  | { t: 'pipe' | 'lparen' | 'rparen' | 'comma' | 'declare' | 'assign'; pos: number; end: number };

const SPACE = /[ \t\r\n]/;
const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;

export function lineCol(source: string, pos: number): { line: number; col: number } {
  const before = source.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - (before.lastIndexOf('\n') + 1);
  return { line, col };
}

class Parser {
  private tokens: Token[] = [];
  private i = 0;
  private actionEnd = 0;

  constructor(
    private readonly name: string,
    private readonly src: string,
  ) {}

  fail(pos: number, message: string): never {
    throw new TemplateError(`template: ${this.name}:${lineCol(this.src, pos).line}: ${message}`);
  }

  private items: (
    | { kind: 'text'; text: string }
    | { kind: 'action'; tokens: Token[]; end: number }
  )[] = [];
  private k = 0;

  /** Splits the source into text and actions and parses the node tree. */
  parse(): Node[] {
    this.items = this.scan();
    this.k = 0;
    const { nodes, end, pos } = this.parseList();
    if (end !== 'eof') this.fail(pos, `unexpected {{${end}}}`);
    return nodes;
  }

  /** Parses nodes up to {{end}}, {{else}} or the end of input. */
  private parseList(): { nodes: Node[]; end: 'end' | 'else' | 'eof'; pos: number } {
    const nodes: Node[] = [];
    while (this.k < this.items.length) {
      const item = this.items[this.k++]!;
      if (item.kind === 'text') {
        if (item.text !== '') nodes.push({ kind: 'text', text: item.text });
        continue;
      }
      this.tokens = item.tokens;
      this.i = 0;
      this.actionEnd = item.end;
      const first = this.tokens[0];
      if (first === undefined) continue; // a comment
      if (first.t === 'ident' && (first.name === 'end' || first.name === 'else')) {
        if (first.name === 'end' && this.tokens.length > 1) {
          this.fail(first.pos, 'unexpected tokens in end');
        }
        return { nodes, end: first.name, pos: first.pos };
      }
      if (
        first.t === 'ident' &&
        (first.name === 'if' || first.name === 'range' || first.name === 'with')
      ) {
        this.i = 1;
        nodes.push(this.parseControl(first.name, first.pos));
        continue;
      }
      if (
        first.t === 'ident' &&
        ['define', 'template', 'block', 'break', 'continue'].includes(first.name)
      ) {
        this.fail(first.pos, `{{${first.name}}} is not supported in --format templates`);
      }
      const pipeline = this.parsePipeline('command');
      nodes.push({ kind: 'action', pipeline, pos: pipeline.pos });
    }
    return { nodes, end: 'eof', pos: this.src.length };
  }

  /** Parses if/range/with whose keyword was just consumed, through its {{end}}. */
  private parseControl(control: 'if' | 'range' | 'with', pos: number): Node {
    const pipeline = this.parsePipeline(control);
    const body = this.parseList();
    if (body.end === 'eof') this.fail(pos, `unexpected EOF: missing {{end}} for ${control}`);
    let elseList: Node[] | undefined;
    if (body.end === 'else') {
      const chained = this.tokens[1];
      if (
        control !== 'range' &&
        chained?.t === 'ident' &&
        (chained.name === 'if' || chained.name === 'with')
      ) {
        // "else if" chains share the final {{end}}: parse the chained control in place.
        this.i = 2;
        elseList = [this.parseControl(chained.name, chained.pos)];
      } else {
        if (this.tokens.length > 1) this.fail(body.pos, 'unexpected tokens in else');
        const tail = this.parseList();
        if (tail.end !== 'end') this.fail(pos, `missing {{end}} for ${control}`);
        elseList = tail.nodes;
      }
    }
    return { kind: control, pipeline, list: body.nodes, elseList, pos };
  }

  private scan(): (
    | { kind: 'text'; text: string }
    | { kind: 'action'; tokens: Token[]; end: number }
  )[] {
    const src = this.src;
    const items: (
      | { kind: 'text'; text: string }
      | { kind: 'action'; tokens: Token[]; end: number }
    )[] = [];
    let pos = 0;
    let trimNext = false;
    while (pos <= src.length) {
      const open = src.indexOf('{{', pos);
      let text = open === -1 ? src.slice(pos) : src.slice(pos, open);
      if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
      trimNext = false;
      if (open === -1) {
        items.push({ kind: 'text', text });
        break;
      }
      let start = open + 2;
      if (src[start] === '-' && SPACE.test(src[start + 1] ?? '')) {
        text = text.replace(/[ \t\r\n]+$/, '');
        start += 2;
      }
      items.push({ kind: 'text', text });
      const { tokens, end, trimRight } = this.lexAction(start);
      items.push({ kind: 'action', tokens, end });
      trimNext = trimRight;
      pos = end;
    }
    return items;
  }

  /** Lexes one action starting after "{{"; returns the position after "}}". */
  private lexAction(start: number): { tokens: Token[]; end: number; trimRight: boolean } {
    const src = this.src;
    const tokens: Token[] = [];
    let p = start;
    while (SPACE.test(src[p] ?? '')) p++;
    if (src.startsWith('/*', p)) {
      const close = src.indexOf('*/', p + 2);
      if (close === -1) this.fail(p, 'unclosed comment');
      let q = close + 2;
      let trimRight = false;
      if (src.startsWith(' -}}', q)) {
        trimRight = true;
        q += 2;
      }
      if (!src.startsWith('}}', q)) this.fail(p, 'comment ends before closing delimiter');
      return { tokens, end: q + 2, trimRight };
    }
    for (;;) {
      if (p >= src.length) this.fail(start, 'unclosed action');
      const c = src[p]!;
      if (SPACE.test(c)) {
        // " -}}" trims the following text.
        let q = p;
        while (SPACE.test(src[q] ?? '')) q++;
        if (src.startsWith('-}}', q)) return { tokens, end: q + 3, trimRight: true };
        p = q;
        continue;
      }
      if (src.startsWith('}}', p)) return { tokens, end: p + 2, trimRight: false };
      const tokStart = p;
      if (c === '|') {
        tokens.push({ t: 'pipe', pos: p, end: ++p });
      } else if (c === '(') {
        tokens.push({ t: 'lparen', pos: p, end: ++p });
      } else if (c === ')') {
        tokens.push({ t: 'rparen', pos: p, end: ++p });
      } else if (c === ',') {
        tokens.push({ t: 'comma', pos: p, end: ++p });
      } else if (c === ':' && src[p + 1] === '=') {
        p += 2;
        tokens.push({ t: 'declare', pos: tokStart, end: p });
      } else if (c === '=') {
        tokens.push({ t: 'assign', pos: p, end: ++p });
      } else if (c === '"') {
        p++;
        let value = '';
        for (;;) {
          const ch = src[p];
          if (ch === undefined || ch === '\n') this.fail(tokStart, 'unterminated quoted string');
          if (ch === '"') break;
          if (ch === '\\') {
            const e = src[p + 1];
            const simple: Record<string, string> = {
              n: '\n',
              t: '\t',
              r: '\r',
              '\\': '\\',
              '"': '"',
              "'": "'",
              a: '\x07',
              b: '\b',
              f: '\f',
              v: '\v',
              '0': '\0',
            };
            if (e !== undefined && simple[e] !== undefined) {
              value += simple[e];
              p += 2;
            } else if (e === 'x' || e === 'u' || e === 'U') {
              const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
              const hex = src.slice(p + 2, p + 2 + len);
              if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) {
                this.fail(tokStart, `invalid escape in quoted string`);
              }
              value += String.fromCodePoint(Number.parseInt(hex, 16));
              p += 2 + len;
            } else {
              this.fail(tokStart, 'invalid syntax in quoted string');
            }
            continue;
          }
          value += ch;
          p++;
        }
        p++;
        tokens.push({ t: 'string', value, pos: tokStart, end: p });
      } else if (c === '`') {
        const close = src.indexOf('`', p + 1);
        if (close === -1) this.fail(tokStart, 'unterminated raw quoted string');
        tokens.push({ t: 'string', value: src.slice(p + 1, close), pos: tokStart, end: close + 1 });
        p = close + 1;
      } else if (/[0-9]/.test(c) || ((c === '-' || c === '+') && /[0-9]/.test(src[p + 1] ?? ''))) {
        const m = /^[+-]?(0[xX][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+(?:[eE][+-]?[0-9]+)?)/.exec(
          src.slice(p),
        );
        const text = m![0];
        const value = Number(text.replaceAll('_', ''));
        if (Number.isNaN(value)) this.fail(tokStart, `bad number syntax: "${text}"`);
        p += text.length;
        tokens.push({ t: 'number', value, pos: tokStart, end: p });
      } else if (c === '.' || c === '$') {
        let name = '';
        if (c === '$') {
          p++;
          while (IDENT.test(src[p] ?? '')) name += src[p++];
        }
        const names: string[] = [];
        while (src[p] === '.' && IDENT_START.test(src[p + 1] ?? '')) {
          p++;
          let field = '';
          while (IDENT.test(src[p] ?? '')) field += src[p++];
          names.push(field);
        }
        if (c === '$') {
          tokens.push({ t: 'var', name: `$${name}`, names, pos: tokStart, end: p });
        } else if (names.length === 0) {
          p++;
          tokens.push({ t: 'dot', pos: tokStart, end: p });
        } else {
          tokens.push({ t: 'field', names, pos: tokStart, end: p });
        }
      } else if (IDENT_START.test(c)) {
        let name = '';
        while (IDENT.test(src[p] ?? '')) name += src[p++];
        tokens.push({ t: 'ident', name, pos: tokStart, end: p });
      } else {
        this.fail(p, `unexpected "${c}" in command`);
      }
    }
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private parsePipeline(context: string, inParen = false): Pipeline {
    const start = this.peek()?.pos ?? this.actionEnd;
    const decls: string[] = [];
    let assign = false;
    // Variable declarations: "$x :=" or "$i, $e :=" (range only) or "$x =".
    const save = this.i;
    const vars: string[] = [];
    while (this.peek()?.t === 'var') {
      const v = this.peek() as Extract<Token, { t: 'var' }>;
      if (v.names.length > 0) break;
      vars.push(v.name);
      this.i++;
      const next = this.peek();
      if (next?.t === 'comma' && context === 'range' && vars.length === 1) {
        this.i++;
        continue;
      }
      if (next?.t === 'declare' || next?.t === 'assign') {
        assign = next.t === 'assign';
        this.i++;
        decls.push(...vars);
      }
      break;
    }
    if (decls.length === 0) this.i = save;
    const cmds: Command[] = [];
    for (;;) {
      const tok = this.peek();
      if (tok === undefined || tok.t === 'rparen') break;
      if (tok.t === 'pipe') this.fail(tok.pos, 'missing command before "|"');
      cmds.push(this.parseCommand());
      const after = this.peek();
      if (after?.t === 'pipe') {
        this.i++;
        if (this.peek() === undefined || this.peek()?.t === 'rparen') {
          this.fail(after.pos, 'missing command after "|"');
        }
        continue;
      }
      break;
    }
    const tail = this.peek();
    if (tail !== undefined && !(inParen && tail.t === 'rparen')) {
      this.fail(tail.pos, `unexpected ${this.describe(tail)} in ${context}`);
    }
    if (cmds.length === 0) this.fail(start, `missing value for ${context}`);
    const end = this.tokens[this.i - 1]?.end ?? start;
    return { decls, assign, cmds, pos: start, text: this.src.slice(start, end) };
  }

  private describe(tok: Token): string {
    return `"${this.src.slice(tok.pos, tok.end)}"`;
  }

  private parseCommand(): Command {
    const args: Operand[] = [];
    const pos = this.peek()!.pos;
    for (;;) {
      const tok = this.peek();
      if (tok === undefined || tok.t === 'pipe' || tok.t === 'rparen') break;
      args.push(this.parseOperand());
    }
    return { args, pos };
  }

  private parseOperand(): Operand {
    const tok = this.tokens[this.i++]!;
    const text = this.src.slice(tok.pos, tok.end);
    switch (tok.t) {
      case 'dot':
        return { kind: 'dot', pos: tok.pos, text };
      case 'field':
        return { kind: 'field', names: tok.names, pos: tok.pos, text };
      case 'var':
        return { kind: 'var', name: tok.name, names: tok.names, pos: tok.pos, text };
      case 'string':
        return { kind: 'literal', value: tok.value, pos: tok.pos, text };
      case 'number':
        return { kind: 'literal', value: tok.value, pos: tok.pos, text };
      case 'ident':
        if (tok.name === 'true' || tok.name === 'false') {
          return { kind: 'literal', value: tok.name === 'true', pos: tok.pos, text };
        }
        if (tok.name === 'nil') return { kind: 'literal', value: null, pos: tok.pos, text };
        if (['if', 'range', 'with', 'end', 'else'].includes(tok.name)) {
          this.fail(tok.pos, `unexpected <${tok.name}> in command`);
        }
        return { kind: 'ident', name: tok.name, pos: tok.pos, text };
      case 'lparen': {
        const pipeline = this.parsePipeline('parenthesized pipeline', true);
        const close = this.tokens[this.i];
        if (close?.t !== 'rparen') this.fail(tok.pos, 'unclosed left paren');
        this.i++;
        let end = close.end;
        const names: string[] = [];
        const chain = this.peek();
        if (chain?.t === 'field' && chain.pos === close.end) {
          names.push(...chain.names);
          end = chain.end;
          this.i++;
        }
        return { kind: 'paren', pipeline, names, pos: tok.pos, text: this.src.slice(tok.pos, end) };
      }
      default:
        this.fail(tok.pos, `unexpected ${this.describe(tok)} in operand`);
    }
  }
}

/** Parses a template; errors read like Go's ("template: NAME:LINE: ..."). */
export function parseTemplate(source: string, name = ''): Template {
  return { name, source, nodes: new Parser(name, source).parse() };
}
