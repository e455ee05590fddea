// skiff-image delete: removes an image's manifest from a registry (by tag or digest). The
// registry deletes by digest, so every tag that points at the same manifest goes with it.
import { UsageError } from '@skiff/cli-kit';
import { deleteRegistryImage, parseImageName } from '@skiff/transports';
import { type CommanderRegistryFlags, commandRegistryOptions } from './options.js';

export async function deleteCommand(
  image: string,
  flags: CommanderRegistryFlags,
  signal: AbortSignal,
): Promise<void> {
  const name = parseImageName(image);
  if (name.transport !== 'docker' || !name.reference) {
    throw new UsageError(
      `deleting images is supported for docker:// only, not ${name.transport}:`,
      {
        hint: 'remove local images (dir:, oci:, archives) with rm',
      },
    );
  }
  await deleteRegistryImage(name, { ...commandRegistryOptions(flags), signal });
}
