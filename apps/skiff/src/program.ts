// The commander program of skiff. It loads only commander and the help formatter; each command
// loads the storage and image code it needs when it runs.
import { formatCobraHelp, setExamples } from '@skiff/cli-kit/help';
import { Command, CommanderError, Option } from 'commander';
import {
  containerInspect,
  registerContainerCommands,
  STOPS_AT_FIRST_OPERAND,
} from './container-commands.js';
import type { GlobalOptions } from './options.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A command's work; a number it returns is the exit code (rmi's 1 and 2). */
type Body = (signal: AbortSignal, globals: GlobalOptions) => Promise<unknown>;

/** Runs a command's body under cli-kit's runCli: signals, podman's exit codes, error printing. */
async function run(cmd: Command, body: Body): Promise<void> {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const { runCli } = await import('@skiff/cli-kit');
  const { checkLogLevel, podmanExitCodes } = await import('./options.js');
  await runCli(
    async (signal) => {
      checkLogLevel(globals.logLevel);
      const code = await body(signal, globals);
      return typeof code === 'number' ? code : 0;
    },
    {
      exitCodes: podmanExitCodes,
      debug: globals.logLevel === 'debug' || globals.logLevel === 'trace' || undefined,
    },
  );
}

/** --authfile, --cert-dir, --creds, --tls-verify, --retry, --retry-delay. */
function registryFlags(cmd: Command): Command {
  return cmd
    .option(
      '--authfile <string>',
      'path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override',
    )
    .option('--cert-dir <Pathname>', 'Pathname of a directory containing TLS certificates and keys')
    .option(
      '--creds <[username[:password]]>',
      'Credentials (USERNAME:PASSWORD) to use for authenticating to a registry',
    )
    .option(
      '--retry <uint>',
      'number of times to retry in case of failure when performing pull (default 3)',
    )
    .option('--retry-delay <string>', 'delay between retries in case of pull failures')
    .option('--tls-verify', 'Require HTTPS and verify certificates when contacting registries')
    .addOption(new Option('--no-tls-verify').hideHelp());
}

function defineImages(cmd: Command): Command {
  return cmd
    .summary('List images in local storage')
    .description('Lists images previously pulled to the system or created on the system.')
    .usage('[options] [IMAGE]')
    .argument('[IMAGE]')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option(
      '-f, --filter <filters>',
      'Filter output based on conditions provided (default [])',
      collect,
    )
    .option('--format <string>', 'Change the output format to JSON or a Go template')
    .option('-n, --noheading', 'Do not print column headings')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Display only image IDs')
    .option('--sort <string>', 'Sort by created, id, repository, size, tag', 'created')
    .action(async (image: string | undefined, opts: Record<string, unknown>, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { imagesCommand } = await import('./images.js');
        await imagesCommand(image ? [image] : [], opts, globals);
      });
    });
}

function definePull(cmd: Command): Command {
  return registryFlags(cmd)
    .summary('Pull an image from a registry')
    .description(
      "Pulls an image from a registry and stores it locally.\n\nAn image can be pulled by tag or digest. If a tag is not specified, the image with the\n'latest' tag is pulled. Other transports (oci:, oci-archive:, docker-archive:, dir:) are\nread from local files.",
    )
    .usage('[options] IMAGE [IMAGE...]')
    .argument('<IMAGE...>')
    .option('-a, --all-tags', 'All tagged images in the repository will be pulled')
    .option(
      '--arch <ARCH>',
      'Use ARCH instead of the architecture of the machine for choosing images',
    )
    .option('--os <OS>', 'Use OS instead of the running OS for choosing images')
    .option(
      '--platform <string>',
      'Specify the platform for selecting the image.  (Conflicts with arch and os)',
    )
    .option('-q, --quiet', 'Suppress output information when pulling images')
    .option(
      '--variant <string>',
      'Use VARIANT instead of the running architecture variant for choosing images',
    )
    .action(async (images: string[], opts: Record<string, unknown>, c: Command) => {
      await run(c, async (signal, globals) => {
        const { pullCommand } = await import('./pull.js');
        await pullCommand(images, opts, globals, signal);
      });
    });
}

function definePush(cmd: Command): Command {
  return registryFlags(cmd)
    .summary('Push an image to a specified destination')
    .description(
      'Pushes a source image to a specified destination.\n\nThe Image "DESTINATION" uses a "transport":"details" format. See skiff-push(1) section\n"DESTINATION" for the expected format.',
    )
    .usage('[options] IMAGE [DESTINATION]')
    .argument('<IMAGE>')
    .argument('[DESTINATION]')
    .option('--compression-format <string>', 'compression format to use (gzip or zstd)')
    .option('--digestfile <string>', 'Write the digest of the pushed image to the specified file')
    .option(
      '-f, --format <string>',
      'Manifest type (oci, v2s2, or v2s1) to use in the destination (default is manifest type of source, with fallbacks)',
    )
    .option('-q, --quiet', 'Suppress output information when pushing images')
    .option('--remove-signatures', 'Discard any pre-existing signatures in the image')
    .action(
      async (
        image: string,
        dest: string | undefined,
        opts: Record<string, unknown>,
        c: Command,
      ) => {
        await run(c, async (signal, globals) => {
          const { pushCommand } = await import('./push.js');
          await pushCommand(image, dest, opts, globals, signal);
        });
      },
    );
}

function defineRmi(cmd: Command): Command {
  return cmd
    .summary('Removes one or more images from local storage')
    .description('Removes one or more previously pulled or locally created images.')
    .usage('[options] IMAGE [IMAGE...]')
    .argument('[IMAGE...]')
    .option('-a, --all', 'Remove all images')
    .option('-f, --force', 'Force Removal of the image')
    .option('-i, --ignore', 'Ignore errors if a specified image does not exist')
    .action(async (images: string[], opts: Record<string, unknown>, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { rmiCommand } = await import('./rmi.js');
        return rmiCommand(images, opts, globals);
      });
    });
}

function defineTag(cmd: Command): Command {
  return cmd
    .summary('Add an additional name to a local image')
    .description('Adds one or more additional names to locally-stored image.')
    .usage('IMAGE TARGET_NAME [TARGET_NAME...]')
    .argument('<IMAGE>')
    .argument('[TARGET_NAME...]')
    .action(async (image: string, names: string[], _opts: unknown, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { tagCommand } = await import('./rmi.js');
        await tagCommand(image, names, globals);
      });
    });
}

function defineUntag(cmd: Command): Command {
  return cmd
    .summary('Remove a name from a local image')
    .description(
      'Removes one or more names from a locally-stored image.\n\nWithout a name, all names are removed.',
    )
    .usage('IMAGE [IMAGE...]')
    .argument('<IMAGE>')
    .argument('[NAME...]')
    .action(async (image: string, names: string[], _opts: unknown, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { untagCommand } = await import('./rmi.js');
        await untagCommand(image, names, globals);
      });
    });
}

function defineInspect(cmd: Command, topLevel: boolean): Command {
  cmd
    .summary(
      topLevel
        ? 'Display the configuration of object denoted by ID'
        : 'Display the configuration of an image',
    )
    .description('Displays the low-level information of an image identified by name or ID.')
    .usage('[options] IMAGE [IMAGE...]')
    .argument('[IMAGE...]')
    .option('-f, --format <string>', 'Format the output to a Go template or json');
  if (topLevel) {
    // podman's `inspect` looks for a container first, then an image.
    cmd
      .description(
        'Displays the low-level information on containers and images identified by name or ID.',
      )
      .usage('[options] {CONTAINER|IMAGE} [...]')
      .option(
        '-t, --type <string>',
        'Specify inspect-object type ("image", "container" or "all")',
        'all',
      );
    return containerInspect(cmd, run, 'all');
  }
  return cmd.action(async (images: string[], opts: Record<string, unknown>, c: Command) => {
    await run(c, async (_signal, globals) => {
      const { inspectCommand } = await import('./inspect.js');
      await inspectCommand(images, opts, globals, topLevel);
    });
  });
}

function defineHistory(cmd: Command): Command {
  return cmd
    .summary('Show history of a specified image')
    .description(
      'Displays the history of an image.\n\nThe information can be printed out in an easy to read, or user specified format, and can be truncated.',
    )
    .usage('[options] IMAGE')
    .argument('<IMAGE>')
    .option('--format <string>', 'Change the output to JSON or a Go template')
    .option('-H, --human', 'Display sizes and dates in human readable format (default true)')
    .addOption(new Option('--no-human').hideHelp())
    .option('--no-trunc', 'Do not truncate the output')
    .option('-q, --quiet', 'Display the numeric IDs only')
    .action(async (image: string, opts: Record<string, unknown>, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { historyCommand } = await import('./inspect.js');
        await historyCommand(image, opts, globals);
      });
    });
}

function defineSave(cmd: Command): Command {
  return cmd
    .summary('Save image(s) to an archive')
    .description(
      'Save an image to docker-archive or oci-archive on the local machine. Default is docker-archive.',
    )
    .usage('[options] IMAGE [IMAGE...]')
    .argument('<IMAGE...>')
    .option(
      '--compress',
      "Compress tarball image layers when saving to a directory using the 'dir' transport. (default is same compression type as source)",
    )
    .option(
      '--format <string>',
      'Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive, docker-dir (directory with v2s2 manifest type)',
      'docker-archive',
    )
    .option(
      '-m, --multi-image-archive',
      'Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)',
    )
    .option(
      '-o, --output <string>',
      'Write to a specified file (default: stdout, which must be redirected)',
    )
    .option('-q, --quiet', 'Suppress the output')
    .action(async (images: string[], opts: Record<string, unknown>, c: Command) => {
      await run(c, async (signal, globals) => {
        const { saveCommand } = await import('./save.js');
        await saveCommand(images, opts, globals, signal);
      });
    });
}

function defineLoad(cmd: Command): Command {
  return cmd
    .summary('Load image(s) from a tar archive')
    .description('Loads an image from a locally stored archive (tar file) into container storage.')
    .usage('[options]')
    .option('-i, --input <string>', 'Read from specified archive file (default: stdin)')
    .option('-q, --quiet', 'Suppress the output')
    .action(async (opts: Record<string, unknown>, c: Command) => {
      await run(c, async (signal, globals) => {
        const { loadCommand } = await import('./load.js');
        await loadCommand(opts, globals, signal);
      });
    });
}

function defineImport(cmd: Command): Command {
  return cmd
    .summary('Import a tarball to create a filesystem image')
    .description(
      'Create a container image from the contents of the specified tarball (.tar, .tar.gz, .tgz, .bzip, .tar.xz, .txz).\n\nNote remote tar balls can be specified, via web address.\nOptionally tag the image. You can specify the instructions using the --change option.',
    )
    .usage('[options] PATH [REFERENCE]')
    .argument('<PATH>')
    .argument('[REFERENCE]')
    .option('--arch <string>', 'Set the architecture of the imported container image')
    .option(
      '-c, --change <changes>',
      'Apply the following possible instructions to the created image (default []): CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR',
      collect,
    )
    .option('-m, --message <string>', 'Set commit message for imported image')
    .option('--os <string>', 'Set the OS of the imported container image')
    .option('-q, --quiet', 'Suppress output')
    .option('--variant <string>', 'Set the variant of the imported container image')
    .action(
      async (path: string, ref: string | undefined, opts: Record<string, unknown>, c: Command) => {
        await run(c, async (signal, globals) => {
          const { importCommand } = await import('./import.js');
          await importCommand(path, ref, opts, globals, signal);
        });
      },
    );
}

function definePrune(cmd: Command, system: boolean): Command {
  cmd
    .summary(system ? 'Remove unused data' : 'Remove unused images')
    .description(
      system
        ? 'Remove unused images and free the space they use. Containers, pods and networks are not managed by this skiff yet.'
        : 'Removes dangling or unused images from local storage.',
    )
    .usage('[options]')
    .option(
      '-a, --all',
      system
        ? 'Remove all unused data'
        : 'Remove all images not in use by containers, not just dangling ones',
    )
    .option('-f, --force', 'Do not prompt for confirmation');
  if (system) cmd.option('--volumes', 'Prune volumes');
  else
    cmd.option('--filter <filters>', "Provide filter values (e.g. 'label=<key>=<value>')", collect);
  return cmd.action(async (opts: Record<string, unknown>, c: Command) => {
    await run(c, async (_signal, globals) => {
      const m = await import('./system.js');
      if (system) await m.systemPruneCommand(opts, globals);
      else await m.imagePruneCommand(opts, globals);
    });
  });
}

function defineInfo(cmd: Command): Command {
  return cmd
    .summary('Display skiff system information')
    .description(
      'Display information pertaining to the host, current storage stats, and build of skiff.\n\nUseful for the user and when reporting issues.',
    )
    .usage('[options]')
    .option('-f, --format <string>', 'Change the output format to JSON or a Go template')
    .action(async (opts: Record<string, unknown>, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { infoCommand } = await import('./system.js');
        await infoCommand(opts, globals);
      });
    });
}

function defineLogin(cmd: Command, binary: string): Command {
  const c = cmd
    .summary('Log in to a container registry')
    .description('Log in to a container registry on a specified server.')
    .usage('[options] [REGISTRY]')
    .argument('[REGISTRY...]')
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
    .action(async (registries: string[], opts: Record<string, unknown>, cc: Command) => {
      await run(cc, async (signal) => {
        const { loginCommand } = await import('@skiff/cli-kit/login');
        await loginCommand(registries, opts, signal);
      });
    });
  setExamples(c, [
    `${binary} login quay.io`,
    `printf %s "$TOKEN" | ${binary} login -u ci --password-stdin registry.example.com:5000`,
  ]);
  return c;
}

function defineLogout(cmd: Command, binary: string): Command {
  const c = cmd
    .summary('Log out of a container registry')
    .description('Remove the cached username and password for the registry.')
    .usage('[options] [REGISTRY]')
    .argument('[REGISTRY...]')
    .option('-a, --all', 'Remove the cached credentials for all registries in the auth file')
    .option(
      '--authfile <string>',
      'path of the authentication file. Use REGISTRY_AUTH_FILE environment variable to override',
    )
    .action(async (registries: string[], opts: Record<string, unknown>, cc: Command) => {
      await run(cc, async () => {
        const { logoutCommand } = await import('@skiff/cli-kit/login');
        await logoutCommand(registries, opts);
      });
    });
  setExamples(c, [`${binary} logout quay.io`, `${binary} logout --all`]);
  return c;
}

function program(version: string): Command {
  const root = new Command('skiff')
    .description('Manage pods, containers and images')
    .usage('[options] [command]')
    .version(`skiff version ${version}`, '--version', 'version for skiff')
    .helpOption('-h, --help', 'help for skiff')
    .helpCommand('help [command]', 'Help about any command')
    .option(
      '--log-level <string>',
      'Log messages above specified level (trace, debug, info, warn, warning, error, fatal, panic)',
      'warn',
    )
    .option(
      '--root <string>',
      'Path to the root directory in which data, including images, is stored',
    )
    .option(
      '--runroot <string>',
      "Path to the 'run directory' where all state information is stored",
    )
    .option(
      '--storage-driver <string>',
      'Select which storage driver is used to manage storage of images and containers (overlay or vfs)',
    );
  root.configureHelp({ formatHelp: formatCobraHelp });

  setExamples(definePull(root.command('pull')), [
    'skiff pull oci:/srv/layouts/busybox:latest',
    'skiff pull --platform linux/arm64 registry.example.com/app:1.2',
    'skiff pull -q docker-archive:busybox.tar',
  ]);
  setExamples(definePush(root.command('push')), [
    'skiff push registry.example.com/app:1.2',
    'skiff push busybox docker-archive:/tmp/busybox.tar:busybox:latest',
    'skiff push --format oci --compression-format zstd app registry.example.com/app:zstd',
  ]);
  setExamples(defineImages(root.command('images')), [
    'skiff images --format json',
    "skiff images --format 'table {{.Repository}} {{.Tag}} {{.Size}}'",
    'skiff images --filter dangling=true --sort size',
  ]);
  setExamples(defineRmi(root.command('rmi')), ['skiff rmi busybox', 'skiff rmi -a -f']);
  setExamples(defineTag(root.command('tag')), [
    'skiff tag busybox registry.example.com/busybox:v1',
  ]);
  setExamples(defineUntag(root.command('untag')), [
    'skiff untag busybox registry.example.com/busybox:v1',
  ]);
  setExamples(defineInspect(root.command('inspect'), true), [
    "skiff inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' busybox",
  ]);
  setExamples(defineHistory(root.command('history')), ['skiff history --no-trunc busybox']);
  setExamples(defineSave(root.command('save')), [
    'skiff save -o busybox.tar busybox',
    'skiff save -m -o images.tar busybox app:v1',
    'skiff save --format oci-archive busybox > busybox-oci.tar',
  ]);
  setExamples(defineLoad(root.command('load')), [
    'skiff load -i busybox.tar',
    'skiff load < busybox.tar',
  ]);
  setExamples(defineImport(root.command('import')), [
    "skiff import --change 'CMD [\"/bin/sh\"]' --message 'from a rootfs' rootfs.tar myimage:v1",
    'cat rootfs.tar | skiff import - myimage',
  ]);
  defineInfo(root.command('info'));
  registerContainerCommands(root, run);
  root
    .command('version')
    .summary('Display the skiff version information')
    .description('Display the skiff version information')
    .usage('[options]')
    .option('-f, --format <string>', 'Change the output format to JSON or a Go template')
    .action(async (opts: { format?: string }, c: Command) => {
      await run(c, async () => {
        const { versionCommand } = await import('./system.js');
        await versionCommand(opts);
      });
    });
  defineLogin(root.command('login'), 'skiff');
  defineLogout(root.command('logout'), 'skiff');

  const image = root
    .command('image')
    .summary('Manage images')
    .description('Manage images')
    .usage('[command]');
  defineImages(image.command('ls').alias('list'));
  definePull(image.command('pull'));
  definePush(image.command('push'));
  defineRmi(image.command('rm'));
  defineTag(image.command('tag'));
  defineUntag(image.command('untag'));
  defineInspect(image.command('inspect'), false);
  defineHistory(image.command('history'));
  defineSave(image.command('save'));
  defineLoad(image.command('load'));
  defineImport(image.command('import'));
  definePrune(image.command('prune'), false);

  const system = root
    .command('system')
    .summary('Manage skiff')
    .description('Manage skiff')
    .usage('[command]');
  system
    .command('df')
    .summary('Show skiff disk usage')
    .description('Show skiff disk usage')
    .usage('[options]')
    .option('--format <string>', 'Pretty-print images using a Go template')
    .option('-v, --verbose', 'Show detailed information on disk usage')
    .action(async (opts: Record<string, unknown>, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { systemDfCommand } = await import('./system.js');
        await systemDfCommand(opts, globals);
      });
    });
  definePrune(system.command('prune'), true);
  system
    .command('reset')
    .summary('Reset skiff storage')
    .description(
      'Reset skiff storage back to default state\n\nAll containers will be stopped and removed, and all images, volumes, networks and container content will be removed.',
    )
    .usage('[options]')
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (opts: { force?: boolean }, c: Command) => {
      await run(c, async (_signal, globals) => {
        const { systemResetCommand } = await import('./system.js');
        await systemResetCommand(opts, globals);
      });
    });
  defineInfo(system.command('info'));

  for (const cmd of allCommands(root)) {
    cmd.configureHelp({ formatHelp: formatCobraHelp });
    cmd.configureOutput({ outputError: () => {} });
    cmd.exitOverride();
    if (cmd !== root && !cmd.options.some((o) => o.short === '-h')) {
      cmd.helpOption('-h, --help', `help for ${cmd.name()}`);
    }
  }
  return root;
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/**
 * `skiff run [flags] IMAGE CMD...`: flags end at the image, the rest is the container's command
 * line even where it looks like flags (`sh -c`). Puts `--` before that first operand.
 */
export function separateContainerArgs(root: Command, argv: string[]): string[] {
  let cmd = root;
  const known: Command[] = [root];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return argv;
    if (arg.startsWith('-') && arg !== '-') {
      const options = known.flatMap((c) => c.options);
      if (arg.startsWith('--')) {
        if (arg.includes('=')) continue;
        const o = options.find((x) => x.long === arg);
        if (o && (o.required || o.optional) && !o.negate) i++;
        continue;
      }
      // A cluster of short flags (-dit) or one with its value attached (-eFOO=bar).
      for (let j = 1; j < arg.length; j++) {
        const o = options.find((x) => x.short === `-${arg[j]}`);
        if (o && (o.required || o.optional)) {
          if (j === arg.length - 1) i++;
          break;
        }
      }
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub) {
      cmd = sub;
      known.push(sub);
      continue;
    }
    if (STOPS_AT_FIRST_OPERAND.has(cmd)) return [...argv.slice(0, i), '--', ...argv.slice(i)];
    return argv;
  }
  return argv;
}

/** Go flags accept `--flag=true|false`; commander does not, so rewrite them first. */
function normalizeBooleanFlags(root: Command, argv: string[]): string[] {
  const booleans = new Set<string>();
  const negatable = new Set<string>();
  for (const c of allCommands(root)) {
    for (const o of c.options) {
      if (!o.long || o.required || o.optional) continue;
      if (o.negate) negatable.add(o.long.replace(/^--no-/, '--'));
      else booleans.add(o.long);
    }
  }
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^(--[a-z0-9-]+)=(true|false)$/i.exec(arg);
    if (m && (booleans.has(m[1]!) || negatable.has(m[1]!))) {
      const value = m[2]!.toLowerCase() === 'true';
      if (value) out.push(booleans.has(m[1]!) ? m[1]! : m[1]!);
      else if (negatable.has(m[1]!)) out.push(`--no-${m[1]!.slice(2)}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Parses the command line and runs the command; usage errors exit 125 like podman's. */
export async function main(version: string, args: string[]): Promise<void> {
  const root = program(version);
  const argv = normalizeBooleanFlags(root, separateContainerArgs(root, args));
  // The command being parsed when a usage error happens, for "See 'skiff X --help'".
  let current = root;
  for (const c of allCommands(root)) {
    c.hook('preSubcommand', (_parent, sub) => {
      current = sub;
    });
  }
  try {
    if (argv.length === 0) {
      process.stdout.write(root.helpInformation());
      return;
    }
    await root.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) {
      process.exitCode = 0;
      return;
    }
    const cmd = current;
    let message = err.message.replace(/^error: /, '');
    const unknown = /^unknown option '([^']+)'/.exec(message);
    if (unknown) message = `unknown flag: ${unknown[1]}`;
    if (err.code === 'commander.unknownCommand') {
      const word = (err as { message: string }).message.match(/'([^']+)'/)?.[1] ?? '';
      process.stderr.write(
        `Error: unrecognized command \`${commandPath(cmd)} ${word}\`\nTry '${commandPath(cmd)} --help' for more information\n`,
      );
    } else {
      process.stderr.write(`Error: ${message}\nSee '${commandPath(cmd)} --help'\n`);
    }
    process.exitCode = 125;
  }
}
