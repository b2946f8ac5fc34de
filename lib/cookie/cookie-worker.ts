/** The cookie keeper worker: minute keys live (and die) here, never on disk. */
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { serveActor } from '../runtime/serve.js';
import { CookieCore } from './core.js';
import type { CookieKeeperOptions } from './core.js';

export interface CookieWorkerInit extends CookieKeeperOptions {
  crypto: BackendChoice;
}

serveActor((init: CookieWorkerInit) => {
  const core = new CookieCore(getBackend(init.crypto), init);
  setInterval(() => core.rotate(), core.periodMs);
  return {
    seal: ({ ec, ess }: { ec: Uint8Array; ess: Uint8Array }) => core.seal(ec, ess),
    open: (cookie: Uint8Array) => core.open(cookie),
    stats: () => core.getStats(),
  };
});
