export { startCookieKeeper, LocalCookieKeeper, WorkerCookieKeeper } from './keeper.js';
export type { StartCookieKeeperOptions, ObservableCookieKeeper } from './keeper.js';
export { CookieCore, DEFAULT_GUARD_SIZE, DEFAULT_PERIOD_MS } from './core.js';
export type { CookieKeeperOptions, CookieStats } from './core.js';
export type { CookieKeeper, CookieContents } from './types.js';
