import * as path from 'node:path';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import { containersStorageTransport } from './containers-storage.js';
import { DirDestination, DirSource } from './dir.js';
import { dockerTransport } from './docker.js';
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

export function registerBuiltinTransports(): void {
  for (const t of [
    ociTransport,
    ociArchiveTransport,
    dockerArchiveTransport,
    dirTransport,
    dockerTransport,
    containersStorageTransport,
  ]) {
    registerTransport(t);
  }
}
