/**
 * The cookie keeper's logic, independent of where it runs: minute keys, cookie sealing and
 * opening, and the replay guard.
 *
 * Cookie K = k16 · secretbox(EC · ESs, "minute-k" · k16, minute key)   (96 bytes)
 * v2 cookie: sealed under a v2-only key derived from the minute key (v2.ts), 168 bytes.
 *
 * k16 is 16 fresh random bytes rather than a vault safe nonce. Random is safe here because each
 * minute key is brand new and lives two periods: even a million cookies per key make a repeated
 * 128-bit nonce a ~2^-88 event (birthday bound), whereas XSalsa20's own 192-bit nonce space is
 * what a repeat would have to hit. It also keeps the vault (and its disk counter) off the path of
 * every Hello, which an unauthenticated client can send at will.
 *
 * Time is the monotonic clock: a wall-clock jump must not stretch a key's life.
 */
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { COOKIE_BYTES, KEY_BYTES, PREFIX_MINUTE, SAFE_NONCE_BYTES } from '../protocol/constants.js';
import { decodeCookieContents, decodeCookieValue, encodeCookieContents, encodeCookieValue } from '../protocol/boxes.js';
import { longTermNonce } from '../protocol/nonce.js';
import { cookieKeyOf } from '../protocol/v2/schedule.js';
import { V2_COOKIE_BYTES } from '../protocol/v2/constants.js';
import type { CookieContents } from './types.js';
import { cookieIdV2, openCookieV2, sealCookieV2 } from './v2.js';
import type { CookieSecretsV2 } from './v2.js';
import { INSPECT, describe } from '../inspect.js';

export interface CookieKeeperOptions {
  /** How long a minute key is the current one, ms (default 60 000). It stays valid one more period. */
  periodMs?: number;
  /** Cookies the replay guard can remember at once (default 1 048 576; see docs/replay-guard.md). */
  guardSize?: number;
}

export const DEFAULT_PERIOD_MS = 60_000;
export const DEFAULT_GUARD_SIZE = 1 << 20;
/** The guard preallocates per entry; keep a typo from asking for gigabytes. */
export const MAX_GUARD_SIZE = 1 << 24;
const MIN_PERIOD_MS = 10;

export interface CookieStats {
  /** Cookies remembered by the replay guard right now. */
  remembered: number;
  guardSize: number;
  /** Cookies that opened under a live key (`open`, `openV2`); nothing is remembered for them yet. */
  opened: number;
  /** Cookies remembered as used (`admit`): each one a handshake that passed every check. */
  admitted: number;
  /** Handshakes refused because the guard was full (fail closed). */
  refusedGuardFull: number;
  /** Cookies refused because they had been used before. */
  refusedReplay: number;
  /** Cookies refused because they did not open under either live key (forged, tampered, expired). */
  refusedInvalid: number;
  /** Key periods that have passed since start (each one a rotation). */
  rotations: number;
  periodMs: number;
}

interface MinuteKey {
  key: Uint8Array;
  /** The v2 cookie key, KDF(key, "", "ctun2 cookie key"): made with the minute key, wiped with it. */
  v2Key: Uint8Array;
  /** When this key became the current one (monotonic ms). It opens cookies until createdAt + 2 periods. */
  createdAt: number;
}

function wipe(minute: MinuteKey): void {
  minute.key.fill(0);
  minute.v2Key.fill(0);
}

/** A cookie's identity in the guard: its k16 (see `remember`). */
function cookieId(cookie: Uint8Array): string {
  return Buffer.from(cookie.buffer, cookie.byteOffset, SAFE_NONCE_BYTES).toString('base64');
}

/** `what`: the packet that carried the cookie (v1 Vouch, v2 Initiate). */
function replayed(what: 'Vouch' | 'Initiate'): CurvetunError {
  return new CurvetunError('EAUTH', `the cookie was already used: a replayed ${what} is refused`);
}

export class CookieCore {
  readonly periodMs: number;
  readonly guardSize: number;
  // The minute keys, private for real (#): util.inspect never shows them.
  #current: MinuteKey;
  #previous: MinuteKey | null = null;
  private readonly guard: LRUCache<string, true>;
  /**
   * When a sweep of the guard can next find something: entries only expire when their key dies
   * (a period boundary), so after the sweeps that follow a rotation there is nothing to find
   * until the next one. A sweep walks every entry; this keeps a refused flood O(1) per cookie.
   */
  private sweepDueAt = Infinity;
  /** Set by destroy(): from then on every seal and open is ECLOSED (the wiped keys are all zeros, and nothing may open under them). */
  #destroyed = false;
  private readonly counts = { opened: 0, admitted: 0, refusedGuardFull: 0, refusedReplay: 0, refusedInvalid: 0, rotations: 0 };

  /**
   * @param now the clock, monotonic ms (tests may pass their own; the guard's TTLs use it too).
   */
  constructor(
    private readonly backend: CryptoBackend,
    options: CookieKeeperOptions = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.periodMs = options.periodMs ?? DEFAULT_PERIOD_MS;
    this.guardSize = options.guardSize ?? DEFAULT_GUARD_SIZE;
    if (!Number.isFinite(this.periodMs) || this.periodMs < MIN_PERIOD_MS) {
      throw new CurvetunError('EINVAL', `periodMs must be a number of at least ${MIN_PERIOD_MS}`);
    }
    if (!Number.isInteger(this.guardSize) || this.guardSize < 1 || this.guardSize > MAX_GUARD_SIZE) {
      throw new CurvetunError('EINVAL', `guardSize must be an integer from 1 to ${MAX_GUARD_SIZE}`);
    }
    this.#current = this.newMinuteKey(this.now());
    // Entries expire with the key that opened them; a full guard refuses instead of evicting
    // (see remember()), so the bound is never reached by an insert. Bounded by count through
    // maxSize rather than `max`, because `max` preallocates ~56 bytes per slot up front (56 MB for
    // the default size) while this grows with use (~140 bytes per remembered cookie).
    this.guard = new LRUCache({ maxSize: this.guardSize, sizeCalculation: () => 1, ttl: 2 * this.periodMs, ttlAutopurge: false, ttlResolution: 0, perf: { now: this.now } });
  }

  [INSPECT](): string {
    return describe('CookieCore', { periodMs: this.periodMs, guardSize: this.guardSize, remembered: this.guard.size });
  }

  /** Milliseconds until the current key's period ends (when the next rotation is due). */
  msUntilRotation(): number {
    return Math.max(0, this.#current.createdAt + this.periodMs - this.now());
  }

  /**
   * Bring the keys up to date with the clock: for each period that has ended, the current key
   * becomes the previous one and the old previous one is wiped. Called before every seal/open, so
   * a late timer can never let a key outlive its two periods; the timer only wipes promptly.
   */
  tick(): void {
    const elapsed = Math.floor((this.now() - this.#current.createdAt) / this.periodMs);
    if (elapsed < 1) return;
    if (this.#previous) wipe(this.#previous);
    const createdAt = this.#current.createdAt + elapsed * this.periodMs;
    if (elapsed === 1) {
      this.#previous = this.#current;
    } else {
      wipe(this.#current); // more than two periods old: nothing it sealed may open any more
      this.#previous = null;
    }
    this.#current = this.newMinuteKey(createdAt);
    this.counts.rotations += elapsed;
    this.purge(true);
  }

  /**
   * Drop expired guard entries: at each rotation, and once more 1 ms later (TTLs are rounded up
   * by under 1 ms, so entries of the key that just died may turn stale only then). Never otherwise.
   */
  private purge(force = false): void {
    const now = this.now();
    if (force) this.sweepDueAt = now + 1;
    else if (now >= this.sweepDueAt) this.sweepDueAt = Infinity;
    else return;
    this.guard.purgeStale();
  }

  /** Seal `EC · ESs` under the current minute key: the 96-byte cookie. */
  seal(clientEphemeralKey: Uint8Array, serverEphemeralSecret: Uint8Array): Uint8Array {
    this.refuseIfDestroyed();
    const inner = encodeCookieContents(clientEphemeralKey, serverEphemeralSecret);
    this.tick();
    const k16 = this.backend.randomBytes(SAFE_NONCE_BYTES);
    const box = this.backend.secretbox(inner, longTermNonce(PREFIX_MINUTE, k16), this.#current.key);
    inner.fill(0);
    return encodeCookieValue(k16, box);
  }

  /**
   * Open a cookie with the current, then the previous key. Nothing is remembered: the handshake
   * admits the cookie (`admit`) only once the Vouch has passed every check, so peers without an
   * allowed key cannot fill the guard. A cookie already remembered is refused here already.
   * `EINVAL` wrong size; `EAUTH` does not open or was used before.
   */
  open(cookie: Uint8Array): CookieContents {
    const { inner } = this.unseal(cookie);
    try {
      if (this.guard.has(cookieId(cookie))) {
        this.counts.refusedReplay++;
        throw replayed('Vouch');
      }
      this.counts.opened++;
      return decodeCookieContents(inner);
    } finally {
      inner.fill(0);
    }
  }

  /**
   * Remember a cookie as used, v1 (96 bytes) or v2 (168), in one step of this single thread
   * (check and insert together): `EAUTH` if it was admitted before (a replay, also one racing on
   * another connection) or no longer opens; `EBUSY` if the guard is full. Call it only after the
   * whole Vouch / Initiate verified.
   */
  admit(cookie: Uint8Array): void {
    if (cookie instanceof Uint8Array && cookie.length === V2_COOKIE_BYTES) {
      const { secrets, minute } = this.unsealV2(cookie);
      for (const value of Object.values(secrets)) value.fill(0);
      this.remember(cookieIdV2(cookie), 'Initiate', minute.createdAt + 2 * this.periodMs - this.now());
    } else {
      const { inner, minute } = this.unseal(cookie);
      inner.fill(0);
      this.remember(cookieId(cookie), 'Vouch', minute.createdAt + 2 * this.periodMs - this.now());
    }
    this.counts.admitted++;
  }

  /** The cookie's plaintext and the key that opened it; `EINVAL` / `EAUTH` as in `open`. */
  private unseal(cookie: Uint8Array): { inner: Uint8Array; minute: MinuteKey } {
    this.refuseIfDestroyed();
    if (!(cookie instanceof Uint8Array) || cookie.length !== COOKIE_BYTES) {
      throw new CurvetunError('EINVAL', `a cookie is ${COOKIE_BYTES} bytes`);
    }
    this.tick();
    const { k16, box } = decodeCookieValue(cookie);
    const nonce = longTermNonce(PREFIX_MINUTE, k16);
    for (const minute of [this.#current, this.#previous]) {
      if (!minute) continue;
      const inner = this.backend.secretboxOpen(box, nonce, minute.key);
      if (inner) return { inner, minute };
    }
    this.counts.refusedInvalid++;
    throw new CurvetunError('EAUTH', 'the cookie did not open: forged, tampered, or older than two key periods');
  }

  private remember(id: string, what: 'Vouch' | 'Initiate', ttl: number): void {
    // k16 identifies a cookie that opened: it is random per cookie, and nobody without the minute
    // key can make another cookie with the same k16 that opens. Only cookies that opened and
    // whose Vouch verified get here, so neither forged cookies nor unknown keys fill the guard.
    // A v2 cookie's id is marked as such (v2.ts), so the two versions never collide.
    if (this.guard.has(id)) {
      this.counts.refusedReplay++;
      throw replayed(what);
    }
    if (this.guard.size >= this.guardSize) {
      this.purge();
      if (this.guard.size >= this.guardSize) {
        this.counts.refusedGuardFull++;
        throw new CurvetunError('EBUSY', 'the replay guard is full; refusing new handshakes until remembered cookies expire');
      }
    }
    // Rounded up: an entry may outlive its key by a millisecond, never the other way round.
    this.guard.set(id, true, { ttl: Math.max(1, Math.ceil(ttl)) });
  }

  /**
   * Seal a v2 cookie under the current minute key's v2 cookie key, expiring two periods from now.
   */
  sealV2(secrets: CookieSecretsV2): Uint8Array {
    this.refuseIfDestroyed();
    if (typeof secrets !== 'object' || secrets === null) throw new CurvetunError('EINVAL', 'sealV2 needs the cookie secrets');
    this.tick();
    return sealCookieV2(this.backend, this.#current.v2Key, secrets, Math.ceil(this.now() + 2 * this.periodMs));
  }

  /**
   * Open a v2 cookie with the current, then the previous v2 cookie key. Nothing is remembered
   * (the handshake admits it once the Initiate verified), but a cookie already admitted is refused.
   * `EINVAL` wrong size; `EAUTH` forged, tampered, expired, a v1 cookie, or already used.
   */
  openV2(cookie: Uint8Array): CookieSecretsV2 {
    const { secrets } = this.unsealV2(cookie);
    if (this.guard.has(cookieIdV2(cookie))) {
      for (const value of Object.values(secrets)) value.fill(0);
      this.counts.refusedReplay++;
      throw replayed('Initiate');
    }
    this.counts.opened++;
    return secrets;
  }

  private unsealV2(cookie: Uint8Array): { secrets: CookieSecretsV2; minute: MinuteKey } {
    this.refuseIfDestroyed();
    if (!(cookie instanceof Uint8Array) || cookie.length !== V2_COOKIE_BYTES) {
      throw new CurvetunError('EINVAL', `a v2 cookie is ${V2_COOKIE_BYTES} bytes`);
    }
    this.tick();
    const now = this.now();
    for (const minute of [this.#current, this.#previous]) {
      if (!minute) continue;
      const contents = openCookieV2(this.backend, minute.v2Key, cookie);
      if (!contents) continue;
      const { expiry, ...secrets } = contents;
      if (expiry > now) return { secrets, minute };
      for (const value of Object.values(secrets)) value.fill(0);
      break;
    }
    this.counts.refusedInvalid++;
    throw new CurvetunError('EAUTH', 'the v2 cookie did not open: forged, tampered, expired or of another version');
  }

  private newMinuteKey(createdAt: number): MinuteKey {
    const key = this.backend.randomBytes(KEY_BYTES);
    return { key, v2Key: cookieKeyOf(key), createdAt };
  }

  /** Counters and the guard's fill; no key material. */
  getStats(): CookieStats {
    this.tick();
    this.purge();
    return { remembered: this.guard.size, guardSize: this.guardSize, periodMs: this.periodMs, ...this.counts };
  }

  private refuseIfDestroyed(): void {
    if (this.#destroyed) throw new CurvetunError('ECLOSED', 'the cookie keeper was closed');
  }

  /** Wipe both keys; every seal and open afterwards is ECLOSED. */
  destroy(): void {
    this.#destroyed = true;
    wipe(this.#current);
    if (this.#previous) wipe(this.#previous);
    this.#previous = null;
    this.guard.clear();
  }
}
