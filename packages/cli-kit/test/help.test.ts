import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatCobraHelp, setExamples } from '../src/help.js';

function program(): Command {
  const root = new Command('tool')
    .description('Does things with images')
    .helpOption('-h, --help', 'help for tool')
    .option('--debug', 'enable debug output')
    .option('--tmpdir <string>', 'directory used to store temporary files');
  root.configureHelp({ formatHelp: formatCobraHelp });
  const inspect = root
    .command('inspect')
    .summary('Inspect image IMAGE-NAME')
    .description('Return low-level information about "IMAGE-NAME"')
    .usage('[command options] IMAGE-NAME')
    .helpOption('-h, --help', 'help for inspect')
    .option('-f, --format <string>', 'Format the output to a Go template')
    .option('--creds <USERNAME[:PASSWORD]>', 'Use USERNAME[:PASSWORD] for accessing the registry')
    .option('--multi-arch <string>', 'How to handle multi-architecture images', 'system')
    .option('-n, --no-tags', 'Do not list the available tags');
  setExamples(inspect, ['tool inspect oci:dir:tag']);
  root.command('copy').summary('Copy an image');
  return root;
}

describe('cobra-style help', () => {
  it('lists commands and flags like podman and skopeo, sorted by name', () => {
    const root = program();
    expect(root.helpInformation()).toBe(
      [
        'Does things with images',
        '',
        'Usage:',
        '  tool [flags]',
        '  tool [command]',
        '',
        'Available Commands:',
        '  copy          Copy an image',
        '  help          display help for command',
        '  inspect       Inspect image IMAGE-NAME',
        '',
        'Flags:',
        '      --debug           enable debug output',
        '  -h, --help            help for tool',
        '      --tmpdir string   directory used to store temporary files',
        '',
        'Use "tool [command] --help" for more information about a command.',
        '',
      ].join('\n'),
    );
  });

  it('shows usage, examples, value names, defaults and global flags for a command', () => {
    const inspect = program().commands.find((c) => c.name() === 'inspect')!;
    expect(inspect.helpInformation()).toBe(
      [
        'Return low-level information about "IMAGE-NAME"',
        '',
        'Usage:',
        '  tool inspect [command options] IMAGE-NAME',
        '',
        'Examples:',
        '  tool inspect oci:dir:tag',
        '',
        'Flags:',
        '      --creds USERNAME[:PASSWORD]   Use USERNAME[:PASSWORD] for accessing the registry',
        '  -f, --format string               Format the output to a Go template',
        '  -h, --help                        help for inspect',
        '      --multi-arch string           How to handle multi-architecture images (default "system")',
        '  -n, --no-tags                     Do not list the available tags',
        '',
        'Global Flags:',
        '      --debug           enable debug output',
        '      --tmpdir string   directory used to store temporary files',
        '',
      ].join('\n'),
    );
  });
});
