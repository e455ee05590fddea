export * from './errors.js';
export type * from './image.js';
