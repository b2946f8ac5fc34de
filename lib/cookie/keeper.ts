/**
 * Cookie keepers: `startCookieKeeper()` runs one in a supervised worker (the default);
 * `LocalCookieKeeper` runs the same logic in this thread.
 */
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { CurvetunError } from '../errors.js';
import { startActor } from '../runtime/index.js';
import type { ActorRef, RestartPolicy } from '../runtime/index.js';
import { CookieCore } from './core.js';
import type { CookieKeeperOptions, CookieStats } from './core.js';
import type { CookieWorkerInit } from './cookie-worker.js';
import type { CookieContents, CookieKeeper } from './types.js';

export interface StartCookieKeeperOptions extends CookieKeeperOptions {
  crypto?: BackendChoice;
  restart?: Partial<RestartPolicy>;
}

export interface ObservableCookieKeeper extends CookieKeeper {
  stats(): Promise<CookieStats>;
}

export class WorkerCookieKeeper implements ObservableCookieKeeper {
  constructor(readonly actor: ActorRef) {}
  seal(ec: Uint8Array, ess: Uint8Array): Promise<Uint8Array> {
    return this.actor.call('seal', { ec, ess });
  }
  open(cookie: Uint8Array): Promise<CookieContents> {
    return this.actor.call('open', cookie);
  }
  stats(): Promise<CookieStats> {
    return this.actor.call('stats');
  }
  close(): Promise<void> {
    return this.actor.stop();
  }
}

/**
 * @example
 * const cookies = await startCookieKeeper({ periodMs: 60_000 });
 */
export async function startCookieKeeper(options: StartCookieKeeperOptions = {}): Promise<WorkerCookieKeeper> {
  const init: CookieWorkerInit = {
    crypto: getBackend(options.crypto ?? 'auto').name as BackendChoice,
    ...(options.periodMs ? { periodMs: options.periodMs } : {}),
    ...(options.guardSize ? { guardSize: options.guardSize } : {}),
  };
  const actor = await startActor({
    name: 'cookie-keeper',
    script: new URL('./cookie-worker.js', import.meta.url),
    init,
    ...(options.restart ? { restart: options.restart } : {}),
  });
  return new WorkerCookieKeeper(actor);
}

export class LocalCookieKeeper implements ObservableCookieKeeper {
  private readonly core: CookieCore;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(options: StartCookieKeeperOptions = {}) {
    this.core = new CookieCore(getBackend(options.crypto ?? 'auto'), options);
    this.timer = setInterval(() => this.core.rotate(), this.core.periodMs);
    this.timer.unref();
  }

  private live(): CookieCore {
    if (this.closed) throw new CurvetunError('ECLOSED', 'the cookie keeper is closed');
    return this.core;
  }
  async seal(ec: Uint8Array, ess: Uint8Array): Promise<Uint8Array> {
    return this.live().seal(ec, ess);
  }
  async open(cookie: Uint8Array): Promise<CookieContents> {
    return this.live().open(cookie);
  }
  async stats(): Promise<CookieStats> {
    return this.live().getStats();
  }
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }
}
