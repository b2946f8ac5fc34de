/** The cookie keeper worker: minute keys live (and die) here, never on disk, never in a reply. */
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { serveActor } from '../runtime/serve.js';
import { CookieCore } from './core.js';
import type { CookieKeeperOptions } from './core.js';
import { keepRotating } from './rotation.js';
import type { CookieSecretsV2 } from './v2.js';

export interface CookieWorkerInit extends CookieKeeperOptions {
  crypto: BackendChoice;
}

serveActor((init: CookieWorkerInit) => {
  const core = new CookieCore(getBackend(init.crypto), init);
  keepRotating(core);
  return {
    seal: (args: { ec: Uint8Array; ess: Uint8Array } | null) => core.seal(args?.ec as Uint8Array, args?.ess as Uint8Array),
    open: (cookie: Uint8Array) => core.open(cookie),
    sealV2: (secrets: CookieSecretsV2) => core.sealV2(secrets),
    openV2: (cookie: Uint8Array) => core.openV2(cookie),
    admit: (cookie: Uint8Array) => {
      core.admit(cookie);
      return null; // the lane's 'json' shape needs a value
    },
    stats: () => core.getStats(),
  };
});
