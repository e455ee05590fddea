import type { Command, Help, Option } from 'commander';

/**
 * Help text in the shape podman, buildah and skopeo print (cobra's): description, "Usage:",
 * "Examples:", "Available Commands:", "Flags:" with "-s, --long type   description (default x)",
 * "Global Flags:". Kept apart from the rest of cli-kit so that a CLI can load it at start-up
 * without loading image code.
 */

const examples = new WeakMap<Command, string[]>();

/** Sets the examples shown under "Examples:" in a command's help. */
export function setExamples(cmd: Command, lines: string[]): Command {
  examples.set(cmd, lines);
  return cmd;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** "-f, --format string" with cobra's alignment for flags without a short form. */
export function flagTerm(option: Option): string {
  const m = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags);
  const value = m?.[1] ?? m?.[2];
  const long = option.long ?? '';
  const head = option.short ? `${option.short}, ${long}` : `    ${long}`;
  return value ? `${head} ${value}` : head;
}

function flagDescription(option: Option): string {
  let text = option.description;
  const def = option.defaultValue as unknown;
  if (
    !option.negate &&
    def !== undefined &&
    def !== false &&
    !(Array.isArray(def) && def.length === 0)
  ) {
    text += typeof def === 'string' ? ` (default "${def}")` : ` (default ${String(def)})`;
  }
  if (option.argChoices) text += ` (one of: ${option.argChoices.join(', ')})`;
  return text;
}

/** Flags sorted by long name, as cobra lists them. */
function flagTable(unsorted: readonly Option[]): string[] {
  const key = (o: Option) => (o.long ?? o.short ?? '').replace(/^-+/, '');
  const options = [...unsorted].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const terms = options.map(flagTerm);
  const width = Math.max(...terms.map((t) => t.length));
  return options.map((o, i) => `  ${terms[i]!.padEnd(width)}   ${flagDescription(o)}`.trimEnd());
}

/** Formats `cmd`'s help; install with `program.configureHelp({ formatHelp: formatCobraHelp })`. */
export function formatCobraHelp(cmd: Command, helper: Help): string {
  const out: string[] = [];
  const path = commandPath(cmd);
  const description = cmd.description() || cmd.summary();
  if (description) out.push(description, '');
  const subcommands = helper
    .visibleCommands(cmd)
    .sort((a, b) => (a.name() < b.name() ? -1 : a.name() > b.name() ? 1 : 0));
  out.push('Usage:');
  if (cmd.parent === null) {
    out.push(`  ${path} [flags]`);
    if (subcommands.length > 0) out.push(`  ${path} [command]`);
  } else {
    out.push(`  ${path} ${cmd.usage()}`.trimEnd());
  }
  out.push('');
  const ex = examples.get(cmd);
  if (ex && ex.length > 0) out.push('Examples:', ...ex.map((l) => `  ${l}`), '');
  if (subcommands.length > 0) {
    const width = Math.max(11, ...subcommands.map((c) => c.name().length));
    out.push('Available Commands:');
    for (const c of subcommands)
      out.push(`  ${c.name().padEnd(width)}   ${c.summary() || c.description()}`);
    out.push('');
  }
  const options = helper.visibleOptions(cmd);
  if (options.length > 0) out.push('Flags:', ...flagTable(options), '');
  if (cmd.parent) {
    const globals: Option[] = [];
    for (let p: Command | null = cmd.parent; p; p = p.parent) {
      globals.push(...p.options.filter((o) => !o.hidden && o.long !== '--version'));
    }
    if (globals.length > 0) out.push('Global Flags:', ...flagTable(globals), '');
  }
  if (subcommands.length > 0) {
    out.push(`Use "${path} [command] --help" for more information about a command.`, '');
  }
  return out.join('\n');
}
