// skiff-image list-tags: the tags of a registry repository, as the JSON skopeo prints.
import { renderJson, UsageError } from '@skiff/cli-kit';
import { repositoryName } from '@skiff/oci-image';
import { listRegistryTags, parseImageName } from '@skiff/transports';
import { type CommanderRegistryFlags, commandRegistryOptions } from './options.js';

export async function listTagsCommand(
  image: string,
  flags: CommanderRegistryFlags,
  signal: AbortSignal,
): Promise<void> {
  if (!image.startsWith('docker://')) {
    const colon = image.indexOf(':');
    throw new UsageError(
      colon > 0
        ? `unsupported transport "${image.slice(0, colon)}" for tag listing`
        : `"${image}" has no transport: tags are listed for docker://REPOSITORY`,
      { hint: 'write docker://HOST/REPOSITORY, without a tag or digest' },
    );
  }
  const name = parseImageName(image);
  const ref = name.reference!;
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new UsageError(`no tag or digest allowed in reference "${image}"`, {
      hint: `write docker://${repositoryName(ref)}`,
    });
  }
  const tags = await listRegistryTags(name, { ...commandRegistryOptions(flags), signal });
  process.stdout.write(`${renderJson({ Repository: repositoryName(ref), Tags: tags })}\n`);
}
