// The container commands' flags (podman 4.3's names). Like program.ts, this loads only
// commander: each action imports the runtime code it needs when it runs.
import { setExamples } from '@skiff/cli-kit/help';
import { type Command, Option } from 'commander';
import type { GlobalOptions } from './options.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

type Body = (signal: AbortSignal, globals: GlobalOptions) => Promise<unknown>;
export type Runner = (cmd: Command, body: Body) => Promise<void>;
type Opts = Record<string, unknown>;

/**
 * Commands whose options end at their first operand (IMAGE or CONTAINER): everything after it
 * belongs to the container's command line (`skiff run IMAGE sh -c 'exit 3'`).
 */
export const STOPS_AT_FIRST_OPERAND = new WeakSet<Command>();

function createFlags(cmd: Command): Command {
  // -h is --hostname here, as in podman.
  return cmd
    .helpOption('--help', `help for ${cmd.name()}`)
    .option(
      '--add-host <host:ip>',
      'Add a custom host-to-IP mapping (host:ip) (default [])',
      collect,
    )
    .option('--annotation <key=value>', 'Add annotations to container (key=value)', collect)
    .option('--cap-add <strings>', 'Add capabilities to the container', collect)
    .option('--cap-drop <strings>', 'Drop capabilities from the container', collect)
    .option('--cpus <float>', 'Number of CPUs. The default is 0.000 which means no limit')
    .option('--dns <strings>', 'Set custom DNS servers', collect)
    .option('--dns-option <strings>', 'Set custom DNS options', collect)
    .option('--dns-search <strings>', 'Set custom DNS search domains', collect)
    .option(
      '--detach-keys <string>',
      'Override the key sequence for detaching a container. Format is a single character [a-Z] or a comma separated sequence of `ctrl-<value>`, where `<value>` is one of: `a-cf`, `@`, `^`, `[`, `\\`, `]`, `^` or `_` (default "ctrl-p,ctrl-q")',
    )
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-e, --env <stringArray>', 'Set environment variables in container', collect)
    .option('--env-file <files>', 'Read in a file of environment variables', collect)
    .option(
      '--group-add <strings>',
      'Add additional groups to the primary container process',
      collect,
    )
    .option('-h, --hostname <string>', 'Set container hostname')
    .option(
      '--init',
      'Run an init binary inside the container that forwards signals and reaps processes',
    )
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('--ip <string>', 'Specify a static IPv4 address for the container')
    .option('--ipc <string>', 'IPC namespace to use')
    .option('-l, --label <stringArray>', 'Set metadata on container', collect)
    .option(
      '-m, --memory <string>',
      'Memory limit (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))',
    )
    .option(
      '--memory-swap <string>',
      "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    )
    .option('--mount <stringArray>', 'Attach a filesystem mount to the container', collect)
    .option('--name <string>', 'Assign a name to the container')
    .option('--network <string>', 'Connect a container to a network')
    .option('--network-alias <strings>', 'Add network-scoped alias for the container', collect)
    .addOption(new Option('--net <string>').hideHelp())
    .option(
      '-p, --publish <strings>',
      "Publish a container's port, or a range of ports, to the host (default [])",
      collect,
    )
    .option('-P, --publish-all', 'Publish all exposed ports to random ports on the host interface')
    .option('--pid <string>', 'PID namespace to use')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--privileged', 'Give extended privileges to container')
    .option('--pull <string>', 'Pull image before creating ("always"|"missing"|"never")', 'missing')
    .option('-q, --quiet', 'Suppress output information when pulling images')
    .option('--read-only', 'Make containers root filesystem read-only')
    .option(
      '--read-only-tmpfs',
      'When running containers in read-only mode mount a read-write tmpfs on /run, /tmp and /var/tmp (default true)',
    )
    .addOption(new Option('--no-read-only-tmpfs').hideHelp())
    .option(
      '--restart <string>',
      'Restart policy to apply when a container exits ("always"|"no"|"on-failure"|"unless-stopped")',
    )
    .option('--rm', 'Remove container (and pod if created) after exit')
    .option('--runtime <string>', 'Path to the OCI-compatible binary used to run containers')
    .option('--security-opt <stringArray>', 'Security Options', collect)
    .option(
      '--shm-size <string>',
      'Size of /dev/shm (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))',
    )
    .option('--stop-signal <string>', 'Signal to stop a container. Default is SIGTERM')
    .option(
      '--stop-timeout <uint>',
      'Timeout (in seconds) that containers stopped by user command have to exit. If exceeded, the container will be forcibly stopped via SIGKILL. (default 10)',
    )
    .option('--tmpfs <tmpfs>', 'Mount a temporary filesystem (tmpfs) into a container', collect)
    .option('-t, --tty', 'Allocate a pseudo-TTY for container')
    .option('--ulimit <strings>', 'Ulimit options', collect)
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--uts <string>', 'UTS namespace to use')
    .option('-v, --volume <stringArray>', 'Bind mount a volume into the container', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container');
}

function defineRun(cmd: Command, run: Runner): Command {
  STOPS_AT_FIRST_OPERAND.add(cmd);
  createFlags(cmd)
    .summary('Run a command in a new container')
    .description('Runs a command in a new container from the given image')
    .usage('[options] IMAGE [COMMAND [ARG...]]')
    .argument('<IMAGE>')
    .argument('[COMMAND...]')
    .option('-d, --detach', 'Run container in background and print container ID')
    .action(async (image: string, command: string[], opts: Opts, c: Command) => {
      await run(c, async (signal, globals) => {
        const { runCommand } = await import('./containers.js');
        return runCommand(image, command, opts, globals, signal);
      });
    });
  return setExamples(cmd, [
    'skiff run --rm busybox echo hello',
    'skiff run -d --name web -v /srv/www:/www:ro busybox httpd -f -h /www',
    "skiff run --memory 64m --read-only busybox sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'",
  ]);
}

function defineCreate(cmd: Command, run: Runner): Command {
  STOPS_AT_FIRST_OPERAND.add(cmd);
  createFlags(cmd)
    .summary('Create but do not start a container')
    .description(
      "Creates a new container from the given image or storage and prepares it for running the specified command.\n\nThe container ID is then printed to stdout. You can then start it at any time with the skiff start <container_id> command. The container will be created with the initial state 'created'.",
    )
    .usage('[options] IMAGE [COMMAND [ARG...]]')
    .argument('<IMAGE>')
    .argument('[COMMAND...]')
    .action(async (image: string, command: string[], opts: Opts, c: Command) => {
      await run(c, async (signal, globals) => {
        const { createCommand } = await import('./containers.js');
        await createCommand(image, command, opts, globals, signal);
      });
    });
  return setExamples(cmd, ['skiff create --name job busybox echo done', 'skiff start -a job']);
}

function refsCommand(
  cmd: Command,
  run: Runner,
  summary: string,
  body: (
    refs: string[],
    opts: Opts,
    globals: GlobalOptions,
    signal: AbortSignal,
  ) => Promise<unknown>,
): Command {
  return cmd
    .summary(summary)
    .description(summary)
    .usage('[options] CONTAINER [CONTAINER...]')
    .argument('[CONTAINER...]')
    .action(async (refs: string[], opts: Opts, c: Command) => {
      await run(c, (signal, globals) => body(refs, opts, globals, signal));
    });
}

const latestFlag = (cmd: Command) =>
  cmd.option('-l, --latest', 'Act on the latest container skiff is aware of');

function lifecycle(parent: Command, run: Runner): void {
  latestFlag(
    refsCommand(
      parent.command('start'),
      run,
      'Start one or more containers',
      async (r, o, g, s) => {
        const { startCommand } = await import('./containers.js');
        return startCommand(r, o, g, s);
      },
    )
      .option('-a, --attach', "Attach container's STDOUT and STDERR")
      .option('--all', 'Start all containers regardless of their state or configuration')
      .option(
        '--detach-keys <string>',
        'Select the key sequence for detaching a container (default "ctrl-p,ctrl-q")',
      )
      .option('-i, --interactive', 'Keep STDIN open even if not attached')
      .option('--sig-proxy', 'Proxy received signals to the process (default true if attaching)')
      .addOption(new Option('--no-sig-proxy').hideHelp()),
  );
  latestFlag(
    refsCommand(parent.command('stop'), run, 'Stop one or more containers', async (r, o, g) => {
      const { stopCommand } = await import('./containers.js');
      return stopCommand(r, o, g);
    })
      .option('-a, --all', 'Stop all running containers')
      .option('-i, --ignore', 'Ignore errors when a specified container is missing')
      .option(
        '-t, --time <uint>',
        'Seconds to wait for stop before killing the container (default 10)',
      ),
  );
  latestFlag(
    refsCommand(
      parent.command('kill'),
      run,
      'Kill one or more running containers with a specific signal',
      async (r, o, g) => {
        const { killCommand } = await import('./containers.js');
        return killCommand(r, o, g);
      },
    )
      .option('-a, --all', 'Signal all running containers')
      .option('-s, --signal <string>', 'Signal to send to the container', 'KILL'),
  );
  const rm = (cmd: Command) =>
    latestFlag(
      refsCommand(cmd, run, 'Remove one or more containers', async (r, o, g) => {
        const { rmCommand } = await import('./containers.js');
        return rmCommand(r, o, g);
      })
        .option('-a, --all', 'Remove all containers')
        .option('-f, --force', 'Force removal of a running or unusable container')
        .option('-i, --ignore', 'Ignore errors when a specified container is missing')
        .option(
          '-t, --time <uint>',
          'Seconds to wait for stop before killing the container (default 10)',
        )
        .option('-v, --volumes', 'Remove anonymous volumes associated with the container'),
    );
  rm(parent.command('rm'));
  latestFlag(
    refsCommand(
      parent.command('restart'),
      run,
      'Restart one or more containers',
      async (r, o, g) => {
        const { restartCommand } = await import('./containers.js');
        return restartCommand(r, o, g);
      },
    )
      .option('-a, --all', 'Restart all non-running containers')
      .option('--running', 'Restart only running containers when --all is used')
      .option(
        '-t, --time <uint>',
        'Seconds to wait for stop before killing the container (default 10)',
      ),
  );
  for (const [name, pause] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    latestFlag(
      refsCommand(
        parent.command(name),
        run,
        pause
          ? 'Pause all the processes in one or more containers'
          : 'Unpause the processes in one or more containers',
        async (r, o, g) => {
          const { pauseCommand } = await import('./containers.js');
          return pauseCommand(r, o, g, pause);
        },
      ).option(
        '-a, --all',
        pause ? 'Pause all running containers' : 'Unpause all paused containers',
      ),
    );
  }
  latestFlag(
    refsCommand(
      parent.command('wait'),
      run,
      'Block on one or more containers',
      async (r, o, g, s) => {
        const { waitCommand } = await import('./containers.js');
        return waitCommand(r, o, g, s);
      },
    ).option('--condition <strings>', 'Condition to wait on (default [stopped])', collect),
  );
  parent
    .command('rename')
    .summary('Rename an existing container')
    .description('The skiff rename command allows you to rename an existing container')
    .usage('CONTAINER NAME')
    .argument('<CONTAINER>')
    .argument('<NAME>')
    .action(async (ref: string, name: string, _o: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { renameCommand } = await import('./containers.js');
        await renameCommand(ref, name, g);
      });
    });
  const ps = (cmd: Command) =>
    cmd
      .summary('List containers')
      .description('Prints out information about the containers')
      .usage('[options]')
      .option('-a, --all', 'Show all the containers, default is only running containers')
      .option('-f, --filter <strings>', 'Filter output based on conditions given', collect)
      .option('--format <string>', 'Pretty-print containers to JSON or using a Go template')
      .option('-l, --latest', 'Act on the latest container skiff is aware of')
      .option('-n, --last <int>', 'Print the n last created containers (all states)')
      .option('--noheading', 'Do not print headers')
      .option('--no-trunc', 'Display the extended information')
      .option('-q, --quiet', 'Print the numeric IDs of the containers only')
      .option('-s, --size', 'Display the total file sizes')
      .option(
        '--sort <choice>',
        'Sort output by: command, created, id, image, names, runningfor, status',
      )
      .action(async (opts: Opts, c: Command) => {
        await run(c, async (_s, g) => {
          const { psCommand } = await import('./container-info.js');
          await psCommand(opts, g);
        });
      });
  setExamples(ps(parent.command('ps')), [
    'skiff ps -a',
    "skiff ps -a --format '{{.ID}} {{.Names}} {{.Status}}'",
    'skiff ps --filter status=exited --filter label=app=web -q',
  ]);
  const logs = parent
    .command('logs')
    .summary('Fetch the logs of one or more containers')
    .description('Retrieves logs for one or more containers.')
    .usage('[options] CONTAINER [CONTAINER...]')
    .argument('[CONTAINER...]')
    .option('-f, --follow', 'Follow log output.  The default is false')
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .option('-n, --names', 'Output the container name in the log')
    .option('--since <string>', 'Show logs since TIMESTAMP')
    .option(
      '--tail <int>',
      'Output the specified number of LINES at the end of the logs.  Defaults to -1, which prints all lines',
      '-1',
    )
    .option('-t, --timestamps', 'Output the timestamps in the log')
    .option('--until <string>', 'Show logs until TIMESTAMP')
    .action(async (refs: string[], opts: Opts, c: Command) => {
      await run(c, async (s, g) => {
        const { logsCommand } = await import('./container-info.js');
        await logsCommand(refs, opts, g, s);
      });
    });
  setExamples(logs, ['skiff logs -f --tail 10 web', 'skiff logs -t --since 10m web']);
  const exec = parent
    .command('exec')
    .summary('Run a process in a running container')
    .description('Execute the specified command inside a running container.')
    .usage('[options] CONTAINER [COMMAND [ARG...]]')
    .argument('<CONTAINER>')
    .argument('[COMMAND...]')
    .option('-d, --detach', 'Run the exec session in detached mode (backgrounded)')
    .option(
      '--detach-keys <string>',
      'Select the key sequence for detaching a container (default "ctrl-p,ctrl-q")',
    )
    .option('-e, --env <stringArray>', 'Set environment variables', collect)
    .option('--env-file <files>', 'Read in a file of environment variables', collect)
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .option('--privileged', 'Give the process extended Linux capabilities inside the container')
    .option('-t, --tty', 'Allocate a pseudo-TTY. The default is false')
    .option(
      '-u, --user <string>',
      'Sets the username or UID used and optionally the groupname or GID for the specified command',
    )
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .action(async (ref: string, command: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { execCommand } = await import('./container-info.js');
        return execCommand(ref, command, opts, g);
      });
    });
  STOPS_AT_FIRST_OPERAND.add(exec);
  setExamples(exec, ['skiff exec web cat /etc/hostname', 'skiff exec -u nobody -w /tmp web id']);
  const top = parent
    .command('top')
    .summary('Display the running processes of a container')
    .description(
      'Display the running processes of a container (runc ps; extra arguments go to ps).',
    )
    .usage('[options] CONTAINER [FORMAT-DESCRIPTORS|ARGS...]')
    .argument('[CONTAINER]')
    .argument('[ARGS...]')
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .action(async (ref: string, args: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { topCommand } = await import('./container-info.js');
        await topCommand(ref, args, opts, g);
      });
    });
  STOPS_AT_FIRST_OPERAND.add(top);
  parent
    .command('port')
    .summary('List port mappings or a specific mapping for the container')
    .description(
      'List port mappings for the CONTAINER, or look up the public-facing port that is NAT-ed to the PRIVATE_PORT',
    )
    .usage('[options] CONTAINER [PORT]')
    .argument('[CONTAINER]')
    .argument('[PORT]')
    .option('-a, --all', 'Display port information for all containers')
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .action(async (ref: string | undefined, port: string | undefined, opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { portCommand } = await import('./container-info.js');
        await portCommand(ref, port, opts, g);
      });
    });
  const attach = parent
    .command('attach')
    .summary('Attach to a running container')
    .description(
      "The skiff attach command allows you to attach to a running container using the container's ID or name, either to view its ongoing output or to control it interactively.\n\nYou can detach from the container (and leave it running) using a configurable key sequence. The default sequence is `ctrl-p,ctrl-q`.",
    )
    .usage('[options] CONTAINER')
    .argument('[CONTAINER]')
    .option(
      '--detach-keys <string>',
      'Select the key sequence for detaching a container (default "ctrl-p,ctrl-q")',
    )
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .option('--no-stdin', 'Do not attach STDIN. The default is false')
    .option('--sig-proxy', 'Proxy received signals to the process (default true)')
    .addOption(new Option('--no-sig-proxy').hideHelp())
    .action(async (ref: string | undefined, opts: Opts, c: Command) => {
      await run(c, async (s, g) => {
        const { attachCommand } = await import('./containers.js');
        return attachCommand(ref, opts, g, s);
      });
    });
  setExamples(attach, ['skiff attach web', 'skiff attach --no-stdin --detach-keys ctrl-x web']);
}

/** `skiff inspect`'s and `skiff container inspect`'s action: containers, then images. */
export function containerInspect(cmd: Command, run: Runner, kind: 'all' | 'container'): Command {
  return cmd.action(async (names: string[], opts: Opts, c: Command) => {
    await run(c, async (_s, g) => {
      const { inspectObjects } = await import('./container-info.js');
      await inspectObjects(names, opts, g, kind);
    });
  });
}

/** Registers run/create/... at the top level and under `skiff container`. */
export function registerContainerCommands(root: Command, run: Runner): void {
  defineRun(root.command('run'), run);
  defineCreate(root.command('create'), run);
  lifecycle(root, run);

  const container = root
    .command('container')
    .summary('Manage containers')
    .description('Manage containers')
    .usage('[command]');
  defineRun(container.command('run'), run);
  defineCreate(container.command('create'), run);
  lifecycle(container, run);
  // `container ls/list` are `ps`.
  const ls = container.commands.find((c) => c.name() === 'ps');
  ls?.aliases(['ls', 'list']);
  containerInspect(
    container
      .command('inspect')
      .summary('Display the configuration of a container')
      .description('Displays the low-level information on a container identified by name or ID.')
      .usage('[options] CONTAINER [CONTAINER...]')
      .argument('[CONTAINER...]')
      .option(
        '-f, --format <string>',
        'Format the output to a Go template or json (default "json")',
      )
      .option('-l, --latest', 'Act on the latest container skiff is aware of'),
    run,
    'container',
  );
  container
    .command('cleanup')
    .summary('Clean up network and mountpoints of one or more containers')
    .description(
      'Cleans up mount points and network stacks on one or more containers from the host. conmon runs it when a container exits.',
    )
    .usage('[options] CONTAINER [CONTAINER...]')
    .argument('[CONTAINER...]')
    .option('-a, --all', 'Cleans up all containers')
    .option('-l, --latest', 'Act on the latest container skiff is aware of')
    .option('--rm', 'After cleanup, remove the container entirely')
    .action(async (refs: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { cleanupCommand } = await import('./containers.js');
        return cleanupCommand(refs, opts, g);
      });
    });
  container
    .command('prune')
    .summary('Remove all non running containers')
    .description('Removes all non running containers')
    .usage('[options]')
    .option('-f, --force', 'Do not prompt for confirmation.  The default is false')
    .option('--filter <filters>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
    .action(async (opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { pruneCommand } = await import('./containers.js');
        return pruneCommand(opts, g);
      });
    });
  networkCommands(root, run);
  volumeCommands(root, run);
}

/** `skiff network ...` (netavark bridge networks). */
function networkCommands(root: Command, run: Runner): void {
  const network = root
    .command('network')
    .summary('Manage networks')
    .description('Manage networks')
    .usage('[command]');
  const create = network
    .command('create')
    .summary('Create networks for containers and pods')
    .description('Create networks for containers and pods')
    .usage('[options] [NAME]')
    .argument('[NAME]')
    .option('-d, --driver <string>', 'driver to manage the network', 'bridge')
    .option('--disable-dns', 'disable dns plugin')
    .option('--gateway <ip>', 'IPv4 or IPv6 gateway for the subnet')
    .option('--ignore', "Don't fail if network already exists")
    .option('--interface-name <string>', 'interface name which is used by the driver')
    .option('--internal', 'restrict external access from this network')
    .option('--ip-range <strings>', 'allocate container IP from range', collect)
    .option('--ipv6', 'enable IPv6 networking')
    .option('--label <stringArray>', 'set metadata on a network', collect)
    .option('-o, --opt <stringArray>', 'Set driver specific options (default [])', collect)
    .option('--subnet <strings>', 'subnets in CIDR format', collect)
    .action(async (name: string | undefined, opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkCreateCommand } = await import('./network.js');
        await networkCreateCommand(name, opts, g);
      });
    });
  setExamples(create, [
    'skiff network create web',
    'skiff network create --subnet 10.90.1.0/24 --gateway 10.90.1.1 --label env=test backend',
    'skiff network create --internal --disable-dns isolated',
  ]);
  const ls = network
    .command('ls')
    .alias('list')
    .summary('List networks')
    .description('List networks')
    .usage('[options]')
    .option('-f, --filter <strings>', "Provide filter values (e.g. 'name=skiff')", collect)
    .option('--format <string>', 'Pretty-print networks to JSON or using a Go template')
    .option('--noheading', 'Do not print headers')
    .option('--no-trunc', 'Do not truncate the network ID')
    .option('-q, --quiet', 'display only names')
    .action(async (opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkLsCommand } = await import('./network.js');
        await networkLsCommand(opts, g);
      });
    });
  setExamples(ls, ['skiff network ls', "skiff network ls --format '{{.Name}} {{.Driver}}'"]);
  network
    .command('inspect')
    .summary('network inspect')
    .description('Displays the network configuration for one or more networks.')
    .usage('[options] NETWORK [NETWORK...]')
    .argument('[NETWORK...]')
    .option('-f, --format <string>', 'Pretty-print network to JSON or using a Go template')
    .action(async (names: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkInspectCommand } = await import('./network.js');
        await networkInspectCommand(names, opts, g);
      });
    });
  network
    .command('rm')
    .alias('remove')
    .summary('Remove networks')
    .description('Remove networks')
    .usage('[options] NETWORK [NETWORK...]')
    .argument('[NETWORK...]')
    .option('-f, --force', 'remove any containers using network')
    .option(
      '-t, --time <int>',
      'Seconds to wait for running containers to stop before killing the container',
    )
    .action(async (names: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkRmCommand } = await import('./network.js');
        return networkRmCommand(names, opts, g);
      });
    });
  network
    .command('prune')
    .summary('Prune unused networks')
    .description('Prune unused networks')
    .usage('[options]')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <strings>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
    .action(async (opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkPruneCommand } = await import('./network.js');
        await networkPruneCommand(opts, g);
      });
    });
  network
    .command('connect')
    .summary('Add container to a network')
    .description('Add container to a network')
    .usage('[options] NETWORK CONTAINER')
    .argument('<NETWORK>')
    .argument('<CONTAINER>')
    .option('--alias <strings>', 'network scoped alias for container', collect)
    .option('--ip <string>', 'set a static ipv4 address for this container network')
    .action(async (net: string, ctr: string, opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkConnectCommand } = await import('./network.js');
        await networkConnectCommand(net, ctr, opts, g);
      });
    });
  network
    .command('disconnect')
    .summary('Disconnect a container from a network')
    .description('Disconnect a container from a network')
    .usage('[options] NETWORK CONTAINER')
    .argument('<NETWORK>')
    .argument('<CONTAINER>')
    .option('-f, --force', 'force removal of container from network')
    .action(async (net: string, ctr: string, opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkDisconnectCommand } = await import('./network.js');
        await networkDisconnectCommand(net, ctr, opts, g);
      });
    });
  network
    .command('exists')
    .summary('network exists')
    .description('If the named network exists, exit 0, else 1')
    .usage('NETWORK')
    .argument('<NETWORK>')
    .action(async (name: string, _o: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { networkExistsCommand } = await import('./network.js');
        return networkExistsCommand(name, g);
      });
    });
}

/** `skiff volume ...` (local volumes). */
function volumeCommands(root: Command, run: Runner): void {
  const volume = root
    .command('volume')
    .summary('Manage volumes')
    .description('Volumes are created in and can be shared between containers')
    .usage('[command]');
  const create = volume
    .command('create')
    .summary('Create a new volume')
    .description(
      'If using the default driver, "local", the volume will be created in the skiff storage directory.',
    )
    .usage('[options] [NAME]')
    .argument('[NAME]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('--ignore', "Don't fail if volume already exists")
    .option('-l, --label <stringArray>', 'Set metadata for a volume (default [])', collect)
    .option('-o, --opt <stringArray>', 'Set driver specific options (default [])', collect)
    .action(async (name: string | undefined, opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumeCreateCommand } = await import('./volume.js');
        await volumeCreateCommand(name, opts, g);
      });
    });
  setExamples(create, ['skiff volume create data', 'skiff volume create --label app=web cache']);
  volume
    .command('ls')
    .alias('list')
    .summary('List volumes')
    .description('List all available volumes. The output of the volumes can be filtered.')
    .usage('[options]')
    .option('-f, --filter <filter>', 'Filter volume output', collect)
    .option('--format <string>', 'Format volume output using JSON or a Go template')
    .option('--noheading', 'Do not print headers')
    .option('-q, --quiet', 'Print volume output in quiet mode')
    .action(async (opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumeLsCommand } = await import('./volume.js');
        await volumeLsCommand(opts, g);
      });
    });
  volume
    .command('inspect')
    .summary('Display detailed information on one or more volumes')
    .description('Display detailed information on one or more volumes.')
    .usage('[options] VOLUME [VOLUME...]')
    .argument('[VOLUME...]')
    .option('-a, --all', 'Inspect all volumes')
    .option('-f, --format <string>', 'Format volume output using JSON or a Go template')
    .action(async (names: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumeInspectCommand } = await import('./volume.js');
        await volumeInspectCommand(names, opts, g);
      });
    });
  volume
    .command('rm')
    .alias('remove')
    .summary('Remove one or more volumes')
    .description('Remove one or more existing volumes.')
    .usage('[options] VOLUME [VOLUME...]')
    .argument('[VOLUME...]')
    .option('-a, --all', 'Remove all volumes')
    .option('-f, --force', 'Remove a volume by force, even if it is being used by a container')
    .option('-t, --time <int>', 'Seconds to wait for running containers to stop')
    .action(async (names: string[], opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumeRmCommand } = await import('./volume.js');
        return volumeRmCommand(names, opts, g);
      });
    });
  volume
    .command('prune')
    .summary('Remove all unused volumes')
    .description('Remove all unused volumes.')
    .usage('[options]')
    .option('--filter <strings>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (opts: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumePruneCommand } = await import('./volume.js');
        await volumePruneCommand(opts, g);
      });
    });
  volume
    .command('exists')
    .summary('volume exists')
    .description('If the given volume exists, exit 0, else 1')
    .usage('VOLUME')
    .argument('<VOLUME>')
    .action(async (name: string, _o: Opts, c: Command) => {
      await run(c, async (_s, g) => {
        const { volumeExistsCommand } = await import('./volume.js');
        return volumeExistsCommand(name, g);
      });
    });
}
