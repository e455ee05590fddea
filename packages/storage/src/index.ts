import type { Store } from './api.js';
import { LocalStore } from './store.js';
import type { StoreOptions } from './types.js';

export type { LayerInput, Store, StoreEvent, StoreWriter } from './api.js';
export { defaultStoreOptions, readStorageConf, StorageErrorCode } from './options.js';
export { chainIdOf, chainIds, normalizeImageName } from './store.js';
export type * from './types.js';

/**
 * Opens (creating if needed) the store at `opts.root`/`opts.runroot`. Opening is cheap and
 * cleans what dead processes left behind. Close it when done.
 */
export function openStore(opts: StoreOptions): Store {
  return new LocalStore(opts);
}
