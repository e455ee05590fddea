import { registerBuiltinTransports } from './builtin.js';

registerBuiltinTransports();

export {
  dirTransport,
  dockerArchiveTransport,
  ociArchiveTransport,
  ociTransport,
} from './builtin.js';
export {
  containersStorageTransport,
  parseStorageName,
  StorageImageDestination,
  StorageImageSource,
} from './containers-storage.js';
export {
  type CopyEvent,
  type CopyOptions,
  type CopyResult,
  copyImage,
  type MultiArchMode,
} from './copy.js';
export { DirDestination, DirSource } from './dir.js';
export {
  DockerDestination,
  DockerSource,
  deleteRegistryImage,
  dockerTransport,
  listRegistryTags,
  parseDockerName,
} from './docker.js';
export { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
export {
  getTransport,
  type ImageName,
  listTransports,
  type OpenOptions,
  openDestination,
  openSource,
  parseImageName,
  registerTransport,
  type StorageSpec,
  type Transport,
} from './name.js';
export { OciLayoutDestination, OciLayoutSource, REF_NAME_ANNOTATION } from './oci-layout.js';
export {
  type ResolvedImage,
  resolveImage,
  type VerifyOptions,
  type VerifyResult,
  verifyImage,
} from './verify.js';
