/**
 * Cookie keepers: `startCookieKeeper()` runs one in a supervised worker (the default);
 * `LocalCookieKeeper` runs the same logic in this thread.
 */
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { CurvetunError } from '../errors.js';
import { startActor } from '../runtime/index.js';
import type { ActorRef, RestartPolicy } from '../runtime/index.js';
import type { LaneMethods } from '../runtime/lane.js';
import { CookieCore } from './core.js';
import type { CookieKeeperOptions, CookieStats } from './core.js';
import type { CookieWorkerInit } from './cookie-worker.js';
import { keepRotating } from './rotation.js';
import type { CookieContents, CookieKeeper, CookieSecretsV2 } from './types.js';
import { INSPECT, describe } from '../inspect.js';

const V2_SECRETS = { clientEphemeralKey: 'bytes', serverEphemeralSecretKey: 'bytes', chainingKey: 'bytes', transcript: 'bytes' } as const;

/** Every handshake seals, opens and admits one cookie (v1 or v2): all take the shared-memory lane (lib/runtime/lane.ts). */
const COOKIE_LANE: LaneMethods = {
  seal: { args: { ec: 'bytes', ess: 'bytes' }, result: 'bytes' },
  open: { args: 'bytes', result: { clientEphemeralPublicKey: 'bytes', serverEphemeralSecretKey: 'bytes' } },
  sealV2: { args: V2_SECRETS, result: 'bytes' },
  openV2: { args: 'bytes', result: V2_SECRETS },
  admit: { args: 'bytes', result: 'json' },
};

export interface StartCookieKeeperOptions extends CookieKeeperOptions {
  crypto?: BackendChoice;
  restart?: Partial<RestartPolicy>;
}

/** A cookie keeper that also reports its counters (never its keys). */
export interface ObservableCookieKeeper extends CookieKeeper {
  stats(): Promise<CookieStats>;
}

/** The main-thread handle of a keeper running in its own supervised worker. */
export class WorkerCookieKeeper implements ObservableCookieKeeper {
  constructor(readonly actor: ActorRef) {}
  [INSPECT](): string {
    return describe('WorkerCookieKeeper', { actor: this.actor.name });
  }
  seal(ec: Uint8Array, ess: Uint8Array): Promise<Uint8Array> {
    return this.actor.call('seal', { ec, ess });
  }
  open(cookie: Uint8Array): Promise<CookieContents> {
    return this.actor.call('open', cookie);
  }
  sealV2(secrets: CookieSecretsV2): Promise<Uint8Array> {
    return this.actor.call('sealV2', secrets);
  }
  openV2(cookie: Uint8Array): Promise<CookieSecretsV2> {
    return this.actor.call('openV2', cookie);
  }
  async admit(cookie: Uint8Array): Promise<void> {
    await this.actor.call('admit', cookie);
  }
  stats(): Promise<CookieStats> {
    return this.actor.call('stats');
  }
  close(): Promise<void> {
    return this.actor.stop();
  }
}

/**
 * Start a cookie keeper in its own supervised worker. A restarted worker has fresh keys and an
 * empty guard, so cookies sealed before a crash no longer open (fail closed).
 * @example
 * const cookies = await startCookieKeeper({ periodMs: 60_000 });
 */
export async function startCookieKeeper(options: StartCookieKeeperOptions = {}): Promise<WorkerCookieKeeper> {
  const backend = getBackend(options.crypto ?? 'auto');
  // Check the options here so a bad one fails the call, not the worker's start-up loop.
  new CookieCore(backend, options).destroy();
  const init: CookieWorkerInit = {
    crypto: backend.name as BackendChoice,
    ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}),
    ...(options.guardSize !== undefined ? { guardSize: options.guardSize } : {}),
  };
  const actor = await startActor({
    name: 'cookie-keeper',
    script: new URL('./cookie-worker.js', import.meta.url),
    init,
    lane: COOKIE_LANE,
    ...(options.restart ? { restart: options.restart } : {}),
  });
  return new WorkerCookieKeeper(actor);
}

/** The same keeper logic in this thread: no worker round trip, keys in this thread's memory. */
export class LocalCookieKeeper implements ObservableCookieKeeper {
  // The minute keys are in the core's truly private fields; this class can be wrapped in a Proxy.
  private readonly core: CookieCore;
  private readonly stopRotating: () => void;
  private closed = false;

  constructor(options: StartCookieKeeperOptions = {}) {
    this.core = new CookieCore(getBackend(options.crypto ?? 'auto'), options);
    this.stopRotating = keepRotating(this.core);
  }

  [INSPECT](): string {
    return describe('LocalCookieKeeper', { periodMs: this.core.periodMs, guardSize: this.core.guardSize, closed: this.closed });
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
  async sealV2(secrets: CookieSecretsV2): Promise<Uint8Array> {
    return this.live().sealV2(secrets);
  }
  async openV2(cookie: Uint8Array): Promise<CookieSecretsV2> {
    return this.live().openV2(cookie);
  }
  async admit(cookie: Uint8Array): Promise<void> {
    this.live().admit(cookie);
  }
  async stats(): Promise<CookieStats> {
    return this.live().getStats();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRotating();
    this.core.destroy();
  }
}
