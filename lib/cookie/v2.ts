/**
 * The v2 cookie (PROTOCOL.md, "v2 cookie"): what a v2 server needs at the Initiate, sealed under a
 * v2-only key derived from the minute key, so no cookie crosses versions.
 *
 *   K = k16 · secretbox(EC · ESs · ck3 · h2 · expiry:u64, "ctun2-ck" · k16, KDF(minute key, "", "ctun2 cookie key"))
 *
 * k16 is random, as in v1's cookie (see core.ts for why random is safe under a fresh key).
 * `expiry` is the keeper's monotonic clock plus two periods at sealing, a second bound beside the
 * key's own death. The keeper's core (core.ts) holds the keys and the replay guard; this file only
 * seals and opens.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { longTermNonce } from '../protocol/nonce.js';
import {
  SAFE_NONCE_BYTES,
  V2_PREFIX_COOKIE,
  decodeCookieContentsV2,
  decodeCookieValueV2,
  encodeCookieContentsV2,
  encodeCookieValueV2,
} from '../protocol/v2/index.js';
import type { CookieContentsV2 } from '../protocol/v2/index.js';

/** What the handshake puts into a v2 cookie and gets back from it. */
export type CookieSecretsV2 = Omit<CookieContentsV2, 'expiry'>;

/** Seal `secrets` (expiring at `expiry`) under `cookieKey`: the 168-byte cookie. */
export function sealCookieV2(backend: CryptoBackend, cookieKey: Uint8Array, secrets: CookieSecretsV2, expiry: number): Uint8Array {
  const plaintext = encodeCookieContentsV2({ ...secrets, expiry });
  const k16 = backend.randomBytes(SAFE_NONCE_BYTES);
  const box = backend.secretbox(plaintext, longTermNonce(V2_PREFIX_COOKIE, k16), cookieKey);
  plaintext.fill(0);
  return encodeCookieValueV2(k16, box);
}

/** The contents if the cookie opens under `cookieKey`, else `null` (`EINVAL` for a wrong size). */
export function openCookieV2(backend: CryptoBackend, cookieKey: Uint8Array, cookie: unknown): CookieContentsV2 | null {
  const { k16, box } = decodeCookieValueV2(cookie);
  const plaintext = backend.secretboxOpen(box, longTermNonce(V2_PREFIX_COOKIE, k16), cookieKey);
  if (plaintext === null) return null;
  try {
    return decodeCookieContentsV2(plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** The replay guard's name for a v2 cookie: its k16, marked so it never meets a v1 one's. */
export function cookieIdV2(cookie: Uint8Array): string {
  return `v2:${Buffer.from(cookie.buffer, cookie.byteOffset, SAFE_NONCE_BYTES).toString('base64')}`;
}
