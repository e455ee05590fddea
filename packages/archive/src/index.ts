export {
  type Compression,
  type CompressOptions,
  compressStream,
  decompressStream,
  detectCompression,
} from './compression.js';
export {
  type CreateLayerOptions,
  createLayer,
  type WrittenLayer,
  writeLayer,
  writeLayerStream,
} from './create.js';
export {
  type ApplyLayerOptions,
  type ApplyLayerResult,
  ArchiveErrorCode,
  applyLayer,
  cleanPath,
  type IdPair,
} from './extract.js';
