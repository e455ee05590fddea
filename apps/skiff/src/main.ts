// skiff: manage containers and images without a daemon, with podman's commands and flags.
// `--version` answers before anything else loads.
declare const SKIFF_VERSION: string;

const version = `skiff version ${SKIFF_VERSION}`;
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write(`${version}\n`);
} else {
  const { main } = await import('./program.js');
  await main(SKIFF_VERSION, args);
}
