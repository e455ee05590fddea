// The commander program of skiff-image. It loads only commander and the help formatter; each
// command loads the image code it needs when it runs.
import { formatCobraHelp, setExamples } from '@skiff/cli-kit/help';
import { Command, CommanderError, Option } from 'commander';
import type { GlobalOptions } from './options.js';

const TRANSPORTS_NOTE = `Supported transports:
dir, docker, docker-archive, oci, oci-archive

See skiff-image(1) section "IMAGE NAMES" for the expected format`;

function program(version: string): Command {
  const root = new Command('skiff-image')
    .description('Various operations with container images and container image registries')
    .version(version, '-v, --version', 'Version for skiff-image')
    .helpOption('-h, --help', 'help for skiff-image')
    .helpCommand('help [command]', 'Help about any command')
    .option('--command-timeout <duration>', 'timeout for the command execution (e.g. 30s, 5m)')
    .option('--debug', 'enable debug output')
    .option('--insecure-policy', 'run the tool without any policy check')
    .option(
      '--override-arch <ARCH>',
      'use ARCH instead of the architecture of the machine for choosing images',
    )
    .option('--override-os <OS>', 'use OS instead of the running OS for choosing images')
    .option(
      '--override-variant <VARIANT>',
      'use VARIANT instead of the running architecture variant for choosing images',
    )
    .option('--tmpdir <string>', 'directory used to store temporary files');
  root.configureHelp({ formatHelp: formatCobraHelp });
  root.configureOutput({ outputError: () => {} });
  root.exitOverride();

  const inspect = root
    .command('inspect')
    .summary('Inspect image IMAGE-NAME')
    .description(
      `Return low-level information about "IMAGE-NAME" in a registry/transport\n${TRANSPORTS_NOTE}`,
    )
    .usage('[command options] IMAGE-NAME')
    .argument('<IMAGE-NAME>')
    .helpOption('-h, --help', 'help for inspect')
    .option('--authfile <string>', 'path of the authentication file (docker:// only)')
    .option(
      '--cert-dir <PATH>',
      'use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry',
    )
    .option('--config', 'output configuration')
    .option('--creds <USERNAME[:PASSWORD]>', 'Use USERNAME[:PASSWORD] for accessing the registry')
    .option('-f, --format <string>', 'Format the output to a Go template')
    .option('-n, --no-tags', 'Do not list the available tags from the repository in the output')
    .option('--raw', 'output raw manifest or configuration')
    .option('--retry-times <int>', 'the number of times to possibly retry')
    .option(
      '--tls-verify',
      'require HTTPS and verify certificates when talking to the container registry',
    )
    .addOption(new Option('--no-tls-verify').hideHelp())
    .action(async (image: string, opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async (signal, globals) => {
        const { inspectImage } = await import('./inspect.js');
        await inspectImage(image, opts, globals, signal);
      });
    });
  setExamples(inspect, [
    'skiff-image inspect oci:/srv/images/busybox:latest',
    'skiff-image inspect --config docker-archive:busybox.tar',
    'skiff-image inspect --format "Name: {{.Name}} Digest: {{.Digest}}" oci:layout:v1',
  ]);

  const copy = root
    .command('copy')
    .summary('Copy an IMAGE-NAME from one location to another')
    .description(
      `Container "IMAGE-NAME" uses a "transport":"details" format.\n\n${TRANSPORTS_NOTE}`,
    )
    .usage('[command options] SOURCE-IMAGE DESTINATION-IMAGE')
    .argument('<SOURCE-IMAGE>')
    .argument('<DESTINATION-IMAGE>')
    .helpOption('-h, --help', 'help for copy')
    .option(
      '--additional-tag <strings>',
      'additional tags (supports docker-archive); repeat for more',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('-a, --all', 'Copy all images if SOURCE-IMAGE is a list')
    .option('--authfile <string>', 'path of the authentication file (docker:// only)')
    .option('--dest-authfile <string>', 'path of the authentication file for the destination')
    .option(
      '--dest-cert-dir <PATH>',
      'use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry',
    )
    .addOption(
      new Option('--dest-compress-format <FORMAT>', 'FORMAT to use for the compression').choices([
        'gzip',
        'zstd',
      ]),
    )
    .option(
      '--dest-creds <USERNAME[:PASSWORD]>',
      'Use USERNAME[:PASSWORD] for accessing the registry',
    )
    .option(
      '--dest-tls-verify',
      'require HTTPS and verify certificates when talking to the container registry',
    )
    .addOption(new Option('--no-dest-tls-verify').hideHelp())
    .option('--digestfile <string>', 'Write the digest of the pushed image to the specified file')
    .option(
      '-f, --format <string>',
      'MANIFEST TYPE (oci or v2s2) to use in the destination (default is manifest type of source, with fallbacks)',
    )
    .option(
      '--multi-arch <string>',
      'How to handle multi-architecture images (system, all, or index-only)',
      'system',
    )
    .option('--preserve-digests', 'Preserve digests of images and lists')
    .option('-q, --quiet', 'Suppress output information when copying images')
    .option('--remove-signatures', 'Do not copy signatures from SOURCE-IMAGE')
    .option('--retry-times <int>', 'the number of times to possibly retry')
    .option('--src-authfile <string>', 'path of the authentication file for the source')
    .option(
      '--src-cert-dir <PATH>',
      'use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry',
    )
    .option(
      '--src-creds <USERNAME[:PASSWORD]>',
      'Use USERNAME[:PASSWORD] for accessing the registry',
    )
    .option(
      '--src-tls-verify',
      'require HTTPS and verify certificates when talking to the container registry',
    )
    .addOption(new Option('--no-src-tls-verify').hideHelp())
    .action(
      async (source: string, destination: string, opts: Record<string, unknown>, cmd: Command) => {
        await runCommand(cmd, async (signal, globals) => {
          const { copyImageCommand } = await import('./copy.js');
          await copyImageCommand(source, destination, opts, globals, signal);
        });
      },
    );
  setExamples(copy, [
    'skiff-image copy oci:/srv/layout:v1 docker-archive:/tmp/image.tar:example/app:v1',
    'skiff-image copy --all --format oci docker-archive:image.tar oci:/srv/layout:v1',
  ]);

  const digest = root
    .command('manifest-digest')
    .summary('Compute a manifest digest of a file')
    .description('Compute a manifest digest of a file')
    .usage('MANIFEST-FILE')
    .argument('<MANIFEST-FILE>')
    .helpOption('-h, --help', 'help for manifest-digest')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      await runCommand(cmd, async () => {
        const { manifestDigest } = await import('./manifest-digest.js');
        await manifestDigest(file);
      });
    });
  setExamples(digest, ['skiff-image manifest-digest manifest.json']);

  for (const cmd of root.commands) {
    cmd.configureOutput({ outputError: () => {} });
    cmd.exitOverride();
  }
  return root;
}

/** Runs a command's body under cli-kit's runCli (signals, error printing, exit codes). */
async function runCommand(
  cmd: Command,
  body: (signal: AbortSignal, globals: GlobalOptions) => Promise<void>,
): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const { runCli } = await import('@skiff/cli-kit');
  const { timeoutError, withTimeout } = await import('./options.js');
  await runCli(
    async (signal) => {
      const limited = withTimeout(signal, globals.commandTimeout);
      try {
        await body(limited, globals);
      } catch (err) {
        // Whatever the interrupted operation reports, say that the time limit ended it.
        if (!signal.aborted && limited.aborted) throw timeoutError(globals.commandTimeout);
        throw err;
      }
    },
    { debug: Boolean(globals.debug) || undefined },
  );
}

/** Go flags accept `--flag=true|false`; commander does not, so rewrite them first. */
function normalizeBooleanFlags(root: Command, argv: string[]): string[] {
  const booleans = new Set<string>();
  const negatable = new Set<string>();
  for (const c of [root, ...root.commands]) {
    for (const o of c.options) {
      if (!o.long || o.required || o.optional) continue;
      if (o.negate) negatable.add(o.long.replace(/^--no-/, '--'));
      else booleans.add(o.long);
    }
  }
  const out: string[] = [];
  for (const arg of argv) {
    const m = /^(--[a-z0-9-]+)=(true|false)$/i.exec(arg);
    if (m && booleans.has(m[1]!)) {
      const value = m[2]!.toLowerCase() === 'true';
      if (value) out.push(m[1]!);
      else if (negatable.has(m[1]!)) out.push(`--no-${m[1]!.slice(2)}`);
      continue;
    }
    if (arg === '--') {
      out.push(...argv.slice(out.length));
      break;
    }
    out.push(arg);
  }
  return out;
}

/** Parses the command line and runs the command; usage errors exit 1 like skopeo's. */
export async function main(version: string, args: string[]): Promise<void> {
  const root = program(version);
  const argv = normalizeBooleanFlags(root, args);
  try {
    await root.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) {
      process.exitCode = 0;
      return;
    }
    // Usage errors: print like the other failures, with a pointer to the command's help.
    const words = argv.filter((a) => !a.startsWith('-'));
    const sub = root.commands.find((c) => c.name() === words[0]);
    const helpCmd = sub ? `skiff-image ${sub.name()} --help` : 'skiff-image --help';
    let message = err.message.replace(/^error: /, '');
    if (err.code === 'commander.unknownCommand') {
      message = `unrecognized command \`skiff-image ${words[0] ?? ''}\``;
    }
    process.stderr.write(`Error: ${message}\nSee '${helpCmd}'.\n`);
    process.exitCode = 1;
  }
}
