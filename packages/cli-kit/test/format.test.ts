import { describe, expect, it } from 'vitest';
import { alignColumns, goMap, normalizeFormat, renderRows, renderTemplate } from '../src/index.js';

const rows = [
  { ID: 'a91e3ade3e1e', Repository: 'localhost/oci', Tag: 'latest', CreatedAt: 'x' },
  {
    ID: 'a91e3ade3e1e',
    Repository: 'localhost/averyveryverylongname/xyz',
    Tag: '1',
    CreatedAt: 'y',
  },
];

describe('--format strings', () => {
  it('turns typed \\t and \\n into tab and newline and ends with a newline', () => {
    expect(normalizeFormat('{{.ID}}\\t{{.Tag}}\\n')).toEqual({
      table: false,
      template: '{{.ID}}\t{{.Tag}}\n',
    });
    expect(renderTemplate('{{.ID}}\\t{{.Tag}}', rows[0])).toBe('a91e3ade3e1e\tlatest\n');
  });

  it('leaves escapes inside actions to the template string literals', () => {
    expect(renderTemplate('{{join .Env "\\n"}}', { Env: ['a', 'b'] })).toBe('a\nb\n');
    expect(renderTemplate('{{join .Env " "}}', { Env: ['a', 'b'] })).toBe('a b\n');
  });

  it('renders one line per row without table', () => {
    expect(renderRows('{{.Repository}}:{{.Tag}}', rows)).toBe(
      'localhost/oci:latest\nlocalhost/averyveryverylongname/xyz:1\n',
    );
  });

  it('prints a header row and aligns columns for table formats like podman', () => {
    // Matches `podman images --format 'table {{.ID}} {{.Repository}}\t{{.Tag}}'`.
    expect(
      renderRows('table {{.ID}} {{.Repository}}\\t{{.Tag}}', rows, { headers: { ID: 'IMAGE ID' } }),
    ).toBe(
      'IMAGE ID      REPOSITORY                           TAG\n' +
        'a91e3ade3e1e  localhost/oci                        latest\n' +
        'a91e3ade3e1e  localhost/averyveryverylongname/xyz  1\n',
    );
  });

  it('derives headers from camel-case field names', () => {
    expect(renderRows('table {{.CreatedAt}}\t{{.Tag | upper}}', rows)).toBe(
      'CREATED AT  TAG\nx           LATEST\ny           1\n',
    );
    expect(renderRows('table {{.Labels.fooBar}}', [{ Labels: goMap({ fooBar: 'v' }) }])).toBe(
      'FOO BAR\nv\n',
    );
  });

  it('keeps string literals with spaces intact in table formats', () => {
    expect(renderRows('table {{.ID}} {{printf "%s %s" .Tag .Tag}}', rows.slice(0, 1))).toBe(
      'ID            TAG\na91e3ade3e1e  latest latest\n',
    );
  });
});

describe('column alignment', () => {
  it('pads cells to the widest cell plus two, at least twelve wide', () => {
    expect(alignColumns('a\tbb\tc\nlonger-than-twelve\tx\ty\n')).toBe(
      'a                   bb          c\nlonger-than-twelve  x           y\n',
    );
  });

  it('never pads the last cell of a line and breaks columns at lines without tabs', () => {
    expect(alignColumns('a\tb\nno tabs here at all\nccccccccccccccccc\td\n')).toBe(
      'a           b\nno tabs here at all\nccccccccccccccccc  d\n',
    );
  });

  it('counts characters, not bytes', () => {
    expect(alignColumns('é\tx\nab\ty')).toBe('é           x\nab          y');
  });
});
