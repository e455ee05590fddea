// The commander program of skiff-image. It loads only commander and the help formatter; each
// command loads the image code it needs when it runs.
import { formatCobraHelp, setExamples } from '@skiff/cli-kit/help';
import { Command, CommanderError, Option } from 'commander';
import type { GlobalOptions } from './options.js';

const TRANSPORTS_NOTE = `Supported transports:
dir, docker, docker-archive, oci, oci-archive

See skiff-image(1) section "IMAGE NAMES" for the expected format`;

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** --creds/--no-creds/--username/--password/--authfile/--cert-dir/--tls-verify/--retry-times. */
function registryFlags(cmd: Command, what = 'the registry'): Command {
  return cmd
    .option(
      '--authfile <string>',
      'path of the authentication file (default: the one "login" writes)',
    )
    .option(
      '--cert-dir <PATH>',
      `use certificates at PATH (*.crt, *.cert, *.key) to connect to ${what}`,
    )
    .option('--creds <USERNAME[:PASSWORD]>', `Use USERNAME[:PASSWORD] for accessing ${what}`)
    .option('--no-creds', `Access ${what} anonymously`)
    .option('--username <string>', `Username for accessing ${what}`)
    .option('--password <string>', `Password for accessing ${what}`)
    .option('--retry-times <int>', 'the number of times to possibly retry')
    .option('--tls-verify', `require HTTPS and verify certificates when talking to ${what}`)
    .addOption(new Option('--no-tls-verify').hideHelp());
}

/** The --src-* or --dest-* registry flags of copy and sync. */
function sideFlags(cmd: Command, side: 'src' | 'dest'): Command {
  const what = side === 'src' ? 'the source registry' : 'the destination registry';
  return cmd
    .option(`--${side}-authfile <string>`, `path of the authentication file for ${what}`)
    .option(
      `--${side}-cert-dir <PATH>`,
      `use certificates at PATH (*.crt, *.cert, *.key) to connect to ${what}`,
    )
    .option(
      `--${side}-creds <USERNAME[:PASSWORD]>`,
      `Use USERNAME[:PASSWORD] for accessing ${what}`,
    )
    .option(`--${side}-no-creds`, `Access ${what} anonymously`)
    .option(`--${side}-username <string>`, `Username for accessing ${what}`)
    .option(`--${side}-password <string>`, `Password for accessing ${what}`)
    .option(`--${side}-tls-verify`, `require HTTPS and verify certificates when talking to ${what}`)
    .addOption(new Option(`--no-${side}-tls-verify`).hideHelp());
}

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

  const inspect = registryFlags(root.command('inspect'))
    .summary('Inspect image IMAGE-NAME')
    .description(
      `Return low-level information about "IMAGE-NAME" in a registry/transport\n${TRANSPORTS_NOTE}`,
    )
    .usage('[command options] IMAGE-NAME')
    .argument('<IMAGE-NAME>')
    .helpOption('-h, --help', 'help for inspect')
    .option('--config', 'output configuration')
    .option('-f, --format <string>', 'Format the output to a Go template')
    .option('-n, --no-tags', 'Do not list the available tags from the repository in the output')
    .option('--raw', 'output raw manifest or configuration')
    .action(async (image: string, opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async (signal, globals) => {
        const { inspectImage } = await import('./inspect.js');
        await inspectImage(image, opts, globals, signal);
      });
    });
  setExamples(inspect, [
    'skiff-image inspect docker://registry.example.com/busybox:latest',
    'skiff-image inspect oci:/srv/images/busybox:latest',
    'skiff-image inspect --config docker-archive:busybox.tar',
    'skiff-image inspect --format "Name: {{.Name}} Digest: {{.Digest}}" oci:layout:v1',
  ]);

  const copy = sideFlags(sideFlags(root.command('copy'), 'src'), 'dest')
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
    .addOption(
      new Option('--dest-compress-format <FORMAT>', 'FORMAT to use for the compression').choices([
        'gzip',
        'zstd',
      ]),
    )
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
    'skiff-image copy --dest-creds user:secret oci:/srv/layout:v1 docker://registry.example.com/app:v1',
  ]);

  const login = root
    .command('login')
    .summary('Login to a container registry')
    .description(
      'Log in to a container registry: check the credentials with the registry and store them\nin the authentication file that the other commands read.',
    )
    .usage('[command options] REGISTRY')
    .argument('[REGISTRY...]')
    .helpOption('-h, --help', 'help for login')
    .option(
      '--authfile <string>',
      'path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override',
    )
    .option('--cert-dir <string>', 'use certificates at the specified path to access the registry')
    .option('--get-login', 'Return the current login user for the registry')
    .option('-p, --password <string>', 'Password for registry')
    .option('--password-stdin', 'Take the password from stdin')
    .option('--tls-verify', 'require HTTPS and verify certificates when accessing the registry')
    .addOption(new Option('--no-tls-verify').hideHelp())
    .option('-u, --username <string>', 'Username for registry')
    .option('-v, --verbose', 'Write more detailed information to stdout')
    .action(async (registries: string[], opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async (signal) => {
        const { loginCommand } = await import('./login.js');
        await loginCommand(registries, opts, signal);
      });
    });
  setExamples(login, [
    'skiff-image login registry.example.com',
    'printf %s "$TOKEN" | skiff-image login -u ci --password-stdin registry.example.com:5000',
  ]);

  const logout = root
    .command('logout')
    .summary('Logout of a container registry')
    .description('Remove the credentials of a container registry from the authentication file.')
    .usage('[command options] REGISTRY')
    .argument('[REGISTRY...]')
    .helpOption('-h, --help', 'help for logout')
    .option('-a, --all', 'Remove the cached credentials for all registries in the auth file')
    .option(
      '--authfile <string>',
      'path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override',
    )
    .option('--tls-verify', 'require HTTPS and verify certificates when accessing the registry')
    .addOption(new Option('--no-tls-verify').hideHelp())
    .action(async (registries: string[], opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async () => {
        const { logoutCommand } = await import('./login.js');
        await logoutCommand(registries, opts);
      });
    });
  setExamples(logout, ['skiff-image logout registry.example.com', 'skiff-image logout --all']);

  const listTags = registryFlags(root.command('list-tags'))
    .summary('List tags in the transport/repository specified by the SOURCE-IMAGE')
    .description(
      'Print the tags of the registry repository "SOURCE-IMAGE" as JSON.\n\nSupported transports:\ndocker\n\nWrite the repository as docker://HOST/PATH, without a tag or digest.',
    )
    .usage('[command options] SOURCE-IMAGE')
    .argument('<SOURCE-IMAGE>')
    .helpOption('-h, --help', 'help for list-tags')
    .action(async (image: string, opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async (signal) => {
        const { listTagsCommand } = await import('./list-tags.js');
        await listTagsCommand(image, opts, signal);
      });
    });
  setExamples(listTags, ['skiff-image list-tags docker://registry.example.com/busybox']);

  const del = registryFlags(root.command('delete'))
    .summary('Delete image IMAGE-NAME')
    .description(
      'Delete the image "IMAGE-NAME" from a registry, by tag or by digest. The registry removes\nthe manifest, and with it every tag that points to it.\n\nSupported transports:\ndocker',
    )
    .usage('[command options] IMAGE-NAME')
    .argument('<IMAGE-NAME>')
    .helpOption('-h, --help', 'help for delete')
    .action(async (image: string, opts: Record<string, unknown>, cmd: Command) => {
      await runCommand(cmd, async (signal) => {
        const { deleteCommand } = await import('./delete.js');
        await deleteCommand(image, opts, signal);
      });
    });
  setExamples(del, [
    'skiff-image delete docker://registry.example.com/example/pause:latest',
    'skiff-image delete docker://registry.example.com/example/pause@sha256:...',
  ]);

  const sync = sideFlags(sideFlags(root.command('sync'), 'src'), 'dest')
    .summary('Synchronize one or more images from one location to another')
    .description(
      `Copy every image found at SOURCE to DESTINATION.

Allowed SOURCE transports (--src): docker, dir, yaml.
Allowed DESTINATION transports (--dest): docker, dir.

A docker SOURCE without a tag copies every tag of the repository. A yaml SOURCE lists
registries and their repositories (see skopeo-sync(1) for the file format). Each image lands
at DESTINATION/NAME:TAG, or with --scoped at DESTINATION/SOURCE-PATH:TAG.`,
    )
    .usage('[command options] --src TRANSPORT --dest TRANSPORT SOURCE DESTINATION')
    .argument('<SOURCE>')
    .argument('<DESTINATION>')
    .helpOption('-h, --help', 'help for sync')
    .option('-a, --all', 'Copy all images if SOURCE-IMAGE is a list')
    .option('--authfile <string>', 'path of the authentication file for both sides')
    .option('-d, --dest <string>', 'DESTINATION transport type')
    .option('--dry-run', 'Run without actually copying data')
    .option(
      '--exclude-tags <REGEX>',
      'Skip tags matching REGEX (repeat for more; images named by digest are never skipped)',
      collect,
    )
    .option(
      '-f, --format <string>',
      'MANIFEST TYPE (oci or v2s2) to use when syncing image(s) to a destination (default is manifest type of source, with fallbacks)',
    )
    .option(
      '--include-tags <REGEX>',
      'Copy only tags matching REGEX (repeat for more; any one may match)',
      collect,
    )
    .option('--keep-going', 'Do not abort the sync if any image copy fails')
    .option('--preserve-digests', 'Preserve digests of images and lists')
    .option('--remove-signatures', 'Do not copy signatures from SOURCE images')
    .option('--retry-times <int>', 'the number of times to possibly retry')
    .option(
      '--scoped',
      'Images at DESTINATION are prefixed using the full source image path as scope',
    )
    .option('-s, --src <string>', 'SOURCE transport type')
    .action(
      async (source: string, destination: string, opts: Record<string, unknown>, cmd: Command) => {
        await runCommand(cmd, async (signal, globals) => {
          const { syncCommand } = await import('./sync.js');
          await syncCommand(source, destination, opts, globals, signal);
        });
      },
    );
  setExamples(sync, [
    'skiff-image sync --src docker --dest dir --scoped registry.example.com/busybox /media/usb',
    'skiff-image sync --src dir --dest docker /media/usb/busybox:1-glibc my-registry.local.lan/test/',
    'skiff-image sync --src yaml --dest docker --include-tags "^1\\." sync.yml my-registry.local.lan/repo/',
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
