import * as path from 'node:path';
import { ErrorCode, parseReference, SkiffError } from '@skiff/oci-image';
import { DirDestination, DirSource } from './dir.js';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
import {
  type ImageName,
  parseDockerArchiveName,
  parseOciLikeName,
  registerTransport,
  type Transport,
} from './name.js';
import { openOciArchiveDestination, openOciArchiveSource } from './oci-archive.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';

function needPath(name: ImageName): string {
  if (name.path === undefined) {
    throw new SkiffError(ErrorCode.InvalidReference, `${name.text}: missing path`);
  }
  return path.resolve(name.path);
}

export const ociTransport: Transport = {
  name: 'oci',
  parse: (details, text) => parseOciLikeName('oci', details, text),
  openSource: (name) => OciLayoutSource.open(needPath(name), name.ref, name.text),
  openDestination: (name) => OciLayoutDestination.open(needPath(name), name.ref, name.text),
};

export const ociArchiveTransport: Transport = {
  name: 'oci-archive',
  parse: (details, text) => parseOciLikeName('oci-archive', details, text),
  openSource: (name, opts) => openOciArchiveSource(needPath(name), name.ref, name.text, opts),
  openDestination: (name, opts) =>
    openOciArchiveDestination(needPath(name), name.ref, name.text, opts),
};

export const dockerArchiveTransport: Transport = {
  name: 'docker-archive',
  parse: parseDockerArchiveName,
  openSource: (name, opts) => DockerArchiveSource.open(needPath(name), name, opts),
  openDestination: (name, opts) => DockerArchiveDestination.open(needPath(name), name, opts),
};

export const dirTransport: Transport = {
  name: 'dir',
  parse: (details, text) => {
    if (details === '') {
      throw new SkiffError(ErrorCode.InvalidReference, `missing path in "${text}"`, {
        hint: 'write dir:PATH',
      });
    }
    return { transport: 'dir', path: details, text };
  },
  openSource: (name) => DirSource.open(needPath(name), name.text),
  openDestination: (name, opts) => DirDestination.open(needPath(name), name.text, opts),
};

function registryUnavailable(name: ImageName): never {
  throw new SkiffError(
    ErrorCode.InvalidTransport,
    `${name.text}: registry transport not available yet`,
    { hint: 'use oci:, oci-archive:, docker-archive: or dir:' },
  );
}

/** Parses docker://REF; opening throws until the registry transport replaces this entry. */
export const dockerTransportPlaceholder: Transport = {
  name: 'docker',
  parse: (details, text) => {
    if (!details.startsWith('//')) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `invalid image name "${text}": the docker transport is written docker://REFERENCE`,
      );
    }
    const refText = details.slice(2);
    try {
      return { transport: 'docker', reference: parseReference(refText), text };
    } catch (err) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `invalid reference "${refText}" in docker://REF: ${(err as Error).message}`,
        { cause: err },
      );
    }
  },
  openSource: async (name) => registryUnavailable(name),
  openDestination: async (name) => registryUnavailable(name),
};

export function registerBuiltinTransports(): void {
  for (const t of [
    ociTransport,
    ociArchiveTransport,
    dockerArchiveTransport,
    dirTransport,
    dockerTransportPlaceholder,
  ]) {
    registerTransport(t);
  }
}
