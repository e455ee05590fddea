import { describe, expect, it } from 'vitest';
import {
  executeTemplate,
  goMap,
  goStruct,
  parseTemplate,
  sprintf,
  TemplateError,
  Timestamp,
} from '../src/index.js';

const image = goStruct('inspect.Output', {
  Name: 'docker.io/library/busybox',
  Digest: 'sha256:abc',
  RepoTags: ['1.36', 'latest'],
  Created: new Timestamp('2024-01-02T03:04:05Z'),
  Labels: goMap({ foo: 'bar', 'a.b': 'c', Zeta: 'z' }),
  Architecture: 'amd64',
  Os: 'linux',
  Layers: ['sha256:l1', 'sha256:l2'],
  LayersData: [
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:l1', Size: 100 },
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:l2', Size: 2048 },
  ],
  Env: ['PATH=/bin', 'HOME=/root'],
  Config: { User: '', Nested: { Deep: 'yes' } },
  Empty: [] as string[],
  Count: 3,
});

const run = (source: string, data: unknown = image) =>
  executeTemplate(parseTemplate(source, 'test'), data);

describe('Go template fields', () => {
  it('prints top-level and nested fields', () => {
    expect(run('{{.Name}} {{.Architecture}}/{{.Os}}')).toBe(
      'docker.io/library/busybox amd64/linux',
    );
    expect(run('{{.Config.Nested.Deep}}')).toBe('yes');
  });

  it('reads map keys with a field path or with index', () => {
    expect(run('{{.Labels.foo}}')).toBe('bar');
    expect(run('{{index .Labels "a.b"}}')).toBe('c');
    expect(run('{{index .Layers 1}}')).toBe('sha256:l2');
  });

  it('prints <no value> for a missing map key and "" from index, as Go does', () => {
    expect(run('[{{.Labels.missing}}]')).toBe('[<no value>]');
    expect(run('[{{index .Labels "missing"}}]')).toBe('[]');
  });

  it('names the field and type when a struct has no such field', () => {
    expect(() => run('{{.Foo}}')).toThrow(TemplateError);
    expect(() => run('x {{.Foo}}')).toThrow(
      'template: test:1:4: executing "test" at <.Foo>: can\'t evaluate field Foo in type inspect.Output',
    );
    expect(() => run('{{.Name.Length}}')).toThrow("can't evaluate field Length in type string");
  });

  it('prints values the way Go fmt %v does', () => {
    expect(run('{{.RepoTags}}')).toBe('[1.36 latest]');
    expect(run('{{.Labels}}')).toBe('map[Zeta:z a.b:c foo:bar]');
    expect(run('{{.Created}}')).toBe('2024-01-02 03:04:05 +0000 UTC');
    expect(run('{{.Count}} {{.Empty}}')).toBe('3 []');
    expect(run('{{index .LayersData 0}}')).toBe(
      '{application/vnd.oci.image.layer.v1.tar+gzip sha256:l1 100}',
    );
    expect(run('{{.}}', null)).toBe('<nil>');
  });

  it('keeps fractional seconds and zones of timestamps like time.Time.String', () => {
    expect(String(new Timestamp('2024-01-02T03:04:05.120000000Z'))).toBe(
      '2024-01-02 03:04:05.12 +0000 UTC',
    );
    expect(String(new Timestamp('2024-01-02T03:04:05+02:00'))).toBe(
      '2024-01-02 03:04:05 +0200 +0200',
    );
  });
});

describe('Go template control flow', () => {
  it('ranges over lists with . and reaches the root with $', () => {
    expect(run('{{range .RepoTags}}{{$.Name}}:{{.}} {{end}}')).toBe(
      'docker.io/library/busybox:1.36 docker.io/library/busybox:latest ',
    );
    expect(run('{{range .LayersData}}{{.Digest}}={{.Size}};{{end}}')).toBe(
      'sha256:l1=100;sha256:l2=2048;',
    );
  });

  it('ranges over maps in key order and declares variables', () => {
    expect(run('{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}')).toBe('Zeta=z,a.b=c,foo=bar,');
    expect(run('{{range $i, $t := .RepoTags}}{{$i}}:{{$t}} {{end}}')).toBe('0:1.36 1:latest ');
  });

  it('runs the else branch of range for an empty list', () => {
    expect(run('{{range .Empty}}x{{else}}none{{end}}')).toBe('none');
  });

  it('chooses if/else if/else branches by Go truth', () => {
    const t = '{{if .Empty}}a{{else if .Config.User}}b{{else if .Count}}c{{else}}d{{end}}';
    expect(run(t)).toBe('c');
    expect(run('{{if .Labels}}yes{{end}}')).toBe('yes');
    expect(run('{{if not .Empty}}empty{{end}}')).toBe('empty');
    expect(run('{{if eq .Os "linux"}}L{{else}}?{{end}}')).toBe('L');
  });

  it('sets dot with with', () => {
    expect(run('{{with .Config.Nested}}{{.Deep}}{{end}}')).toBe('yes');
    expect(run('{{with .Config.User}}{{.}}{{else}}root{{end}}')).toBe('root');
  });

  it('trims whitespace around {{- and -}}', () => {
    expect(run('a  \n {{- .Os -}} \n  b')).toBe('alinuxb');
    expect(run('{{range .RepoTags -}}\n  {{.}}\n{{- end}}')).toBe('1.36latest');
    expect(run('x {{/* a comment */}} y')).toBe('x  y');
  });
});

describe('Go template functions', () => {
  it('pipes values into functions as the last argument', () => {
    expect(run('{{.Os | upper}}')).toBe('LINUX');
    expect(run('{{.Name | printf "%s!" | upper}}')).toBe('DOCKER.IO/LIBRARY/BUSYBOX!');
  });

  it('has join, upper, lower, title, len and json', () => {
    expect(run('{{join .Env ","}}')).toBe('PATH=/bin,HOME=/root');
    expect(run('{{lower "ABC"}} {{title "hello big world"}}')).toBe('abc Hello Big World');
    expect(run('{{len .Layers}} {{len .Labels}} {{len .Os}}')).toBe('2 3 5');
    expect(run('{{json .Labels}}')).toBe('{"Zeta":"z","a.b":"c","foo":"bar"}');
    expect(run('{{json .RepoTags}}')).toBe('["1.36","latest"]');
    expect(run('{{json .Config}}')).toBe('{"User":"","Nested":{"Deep":"yes"}}');
    expect(run('{{json .}}', { a: '<b>' })).toBe('{"a":"<b>"}');
  });

  it('evaluates parenthesised pipelines and fields of their results', () => {
    expect(run('{{(index .LayersData 1).Size}}')).toBe('2048');
    expect(run('{{len (index .RepoTags 0)}}')).toBe('4');
  });

  it('formats with printf verbs %s %d %v %q', () => {
    expect(run('{{printf "%s has %d layers: %v %q" .Os (len .Layers) .RepoTags .Name}}')).toBe(
      'linux has 2 layers: [1.36 latest] "docker.io/library/busybox"',
    );
    expect(sprintf('%-6s|%5d|%05d|%.2f|%%', 'ab', 42, 7, 1.5)).toBe('ab    |   42|00007|1.50|%');
    expect(sprintf('%s %s', 'x')).toBe('x %!s(MISSING)');
    expect(sprintf('%d', 'x')).toBe('%!d(string=x)');
    expect(sprintf('%q', 'a"b\n')).toBe('"a\\"b\\n"');
  });

  it('reports errors inside functions with the function name', () => {
    expect(() => run('{{index .Layers 5}}')).toThrow('error calling index: index out of range: 5');
    expect(() => run('{{len .Count}}')).toThrow('error calling len: len of type int');
  });

  it('rejects unknown functions before printing anything, as Go does', () => {
    expect(() => run('{{.Os}} {{nosuch .Os}}')).toThrow(
      'template: test:1: function "nosuch" not defined',
    );
  });

  it('accepts extra functions', () => {
    const tmpl = parseTemplate('{{shout .Os}}', 't');
    expect(executeTemplate(tmpl, image, { functions: { shout: (s) => `${String(s)}!` } })).toBe(
      'linux!',
    );
  });
});

describe('Go template syntax errors', () => {
  it('reports unclosed actions and missing ends', () => {
    expect(() => parseTemplate('{{.Name', 't')).toThrow('template: t:1: unclosed action');
    expect(() => parseTemplate('{{range .X}}', 't')).toThrow('missing {{end}} for range');
    expect(() => parseTemplate('{{end}}', 't')).toThrow('unexpected {{end}}');
    expect(() => parseTemplate('{{"abc}}', 't')).toThrow('unterminated quoted string');
    expect(() => parseTemplate('a\n{{.X | }}', 't')).toThrow(
      'template: t:2: missing command after "|"',
    );
  });
});
