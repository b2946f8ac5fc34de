/**
 * The cookie keeper's logic, independent of where it runs: minute keys, cookie sealing and
 * opening, and the replay guard.
 *
 * Cookie K = k16 · secretbox(EC · ESs, "minute-k" · k16, minute key)   (96 bytes)
 *
 * k16 is 16 fresh random bytes. A minute key seals at most a few million cookies in its two
 * periods of life, so a repeated 128-bit random nonce under one key is out of reach, and random
 * k16 needs no counter and no disk.
 */
import { LRUCache } from 'lru-cache';
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { COOKIE_BYTES, PREFIX_MINUTE } from '../protocol/constants.js';
import { longTermNonce } from '../protocol/nonce.js';
import type { CookieContents } from './types.js';

export interface CookieKeeperOptions {
  /** How long a minute key is the current one, ms (default 60 000). It stays valid one more period. */
  periodMs?: number;
  /** Cookies the replay guard can remember at once (default 1 048 576; see IMPLEMENTATION.md). */
  guardSize?: number;
}

export const DEFAULT_PERIOD_MS = 60_000;
export const DEFAULT_GUARD_SIZE = 1 << 20;

export interface CookieStats {
  /** Cookies remembered by the replay guard right now. */
  remembered: number;
  guardSize: number;
  /** Handshakes refused because the guard was full. */
  refusedGuardFull: number;
  /** Cookies refused because they had been used before. */
  refusedReplay: number;
  rotations: number;
}

interface MinuteKey {
  key: Uint8Array;
  /** When this key stops opening cookies (end of its second period). */
  expiresAt: number;
}

export class CookieCore {
  readonly periodMs: number;
  readonly guardSize: number;
  private current: MinuteKey;
  private previous: MinuteKey | null = null;
  private readonly guard: LRUCache<string, true>;
  private readonly stats = { refusedGuardFull: 0, refusedReplay: 0, rotations: 0 };

  constructor(private readonly backend: CryptoBackend, options: CookieKeeperOptions = {}, private readonly now: () => number = Date.now) {
    this.periodMs = options.periodMs ?? DEFAULT_PERIOD_MS;
    this.guardSize = options.guardSize ?? DEFAULT_GUARD_SIZE;
    if (!(this.periodMs > 0) || !(this.guardSize > 0)) throw new CurvetunError('EINVAL', 'periodMs and guardSize must be positive');
    this.current = this.freshKey();
    // Entries expire with the key that opened them; a full guard refuses instead of evicting.
    this.guard = new LRUCache({ max: this.guardSize, ttlAutopurge: false, ttl: 2 * this.periodMs });
  }

  private freshKey(): MinuteKey {
    return { key: this.backend.randomBytes(32), expiresAt: this.now() + 2 * this.periodMs };
  }

  /** Make a new current key; the old current becomes the previous; the old previous is wiped. */
  rotate(): void {
    this.previous?.key.fill(0);
    this.previous = this.current;
    this.current = this.freshKey();
    this.stats.rotations++;
  }

  seal(clientEphemeralKey: Uint8Array, serverEphemeralSecret: Uint8Array): Uint8Array {
    if (!(clientEphemeralKey instanceof Uint8Array) || clientEphemeralKey.length !== 32) throw new CurvetunError('EINVAL', 'EC must be 32 bytes');
    if (!(serverEphemeralSecret instanceof Uint8Array) || serverEphemeralSecret.length !== 32) throw new CurvetunError('EINVAL', 'ESs must be 32 bytes');
    const k16 = this.backend.randomBytes(16);
    const inner = new Uint8Array(64);
    inner.set(clientEphemeralKey, 0);
    inner.set(serverEphemeralSecret, 32);
    const box = this.backend.secretbox(inner, longTermNonce(PREFIX_MINUTE, k16), this.current.key);
    inner.fill(0);
    const cookie = new Uint8Array(COOKIE_BYTES);
    cookie.set(k16, 0);
    cookie.set(box, 16);
    return cookie;
  }

  open(cookie: Uint8Array): CookieContents {
    if (!(cookie instanceof Uint8Array) || cookie.length !== COOKIE_BYTES) {
      throw new CurvetunError('EINVAL', `a cookie is ${COOKIE_BYTES} bytes`);
    }
    const now = this.now();
    const nonce = longTermNonce(PREFIX_MINUTE, cookie.subarray(0, 16));
    const box = cookie.subarray(16);
    for (const minute of [this.current, this.previous]) {
      if (!minute || minute.expiresAt <= now) continue;
      const inner = this.backend.secretboxOpen(box, nonce, minute.key);
      if (!inner) continue;
      this.remember(cookie, minute.expiresAt - now);
      return { clientEphemeralPublicKey: inner.slice(0, 32), serverEphemeralSecretKey: inner.slice(32, 64) };
    }
    throw new CurvetunError('EAUTH', 'the cookie did not open: forged, tampered, or older than its minute key');
  }

  private remember(cookie: Uint8Array, ttl: number): void {
    // k16 identifies a cookie that opened: it is random per cookie, and nobody without the minute
    // key can make another cookie with the same k16 that opens.
    const id = Buffer.from(cookie.buffer, cookie.byteOffset, 16).toString('base64');
    if (this.guard.has(id)) {
      this.stats.refusedReplay++;
      throw new CurvetunError('EAUTH', 'the cookie was already used: a replayed Vouch');
    }
    if (this.guard.size >= this.guardSize) {
      this.guard.purgeStale();
      if (this.guard.size >= this.guardSize) {
        this.stats.refusedGuardFull++;
        throw new CurvetunError('EBUSY', 'the replay guard is full; refusing new handshakes until cookies expire');
      }
    }
    this.guard.set(id, true, { ttl: Math.max(1, ttl) });
  }

  getStats(): CookieStats {
    this.guard.purgeStale();
    return { remembered: this.guard.size, guardSize: this.guardSize, ...this.stats };
  }
}
