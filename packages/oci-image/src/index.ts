export * from './convert.js';
export * from './digest.js';
export * from './errors.js';
export type * from './image.js';
export * from './manifest.js';
export * from './media-types.js';
export * from './platform.js';
export * from './reference.js';
export * from './schemas.js';
