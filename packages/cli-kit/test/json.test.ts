import { describe, expect, it } from 'vitest';
import { goMap, renderJson, renderJsonCompact, Timestamp } from '../src/index.js';

describe('renderJson', () => {
  it('writes skopeo inspect output byte for byte like json.MarshalIndent with four spaces', () => {
    const out = renderJson({
      Digest: 'sha256:cee0',
      RepoTags: [],
      Created: new Timestamp('2024-01-02T03:04:05Z'),
      DockerVersion: '',
      Labels: goMap({ foo: 'bar', 'a.b': 'c' }),
      Architecture: 'amd64',
      Layers: ['sha256:1aa7'],
      Env: ['PATH=/usr/bin:/bin'],
    });
    expect(out).toBe(
      [
        '{',
        '    "Digest": "sha256:cee0",',
        '    "RepoTags": [],',
        '    "Created": "2024-01-02T03:04:05Z",',
        '    "DockerVersion": "",',
        '    "Labels": {',
        '        "a.b": "c",',
        '        "foo": "bar"',
        '    },',
        '    "Architecture": "amd64",',
        '    "Layers": [',
        '        "sha256:1aa7"',
        '    ],',
        '    "Env": [',
        '        "PATH=/usr/bin:/bin"',
        '    ]',
        '}',
      ].join('\n'),
    );
  });

  it('keeps struct key order, sorts map keys and leaves out undefined members', () => {
    expect(renderJson({ b: 1, a: { z: 1, y: undefined } }, { indent: '' })).toBe(
      '{"b":1,"a":{"z":1}}',
    );
    expect(renderJson(goMap({ b: 1, a: 2 }), { indent: '' })).toBe('{"a":2,"b":1}');
    expect(
      renderJson(
        new Map([
          ['z', 1],
          ['a', null],
        ]),
        { indent: '' },
      ),
    ).toBe('{"a":null,"z":1}');
    expect(renderJson({}, {})).toBe('{}');
    expect(renderJson(null)).toBe('null');
  });

  it('escapes like Go: HTML characters, control characters, line separators', () => {
    expect(renderJson('<a&b>')).toBe('"\\u003ca\\u0026b\\u003e"');
    expect(renderJson('tab\t nl\n bell\x07 \u2028')).toBe('"tab\\t nl\\n bell\\u0007 \\u2028"');
    expect(renderJsonCompact({ s: '<b>' })).toBe('{"s":"<b>"}');
    expect(renderJson('snow ☃ 😀')).toBe('"snow ☃ 😀"');
  });

  it('writes numbers as Go does', () => {
    expect(renderJson([1, 1.5, 1e21, 1e-7, 123456789012], { indent: '' })).toBe(
      '[1,1.5,1e+21,1e-07,123456789012]',
    );
  });
});
