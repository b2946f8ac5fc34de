/**
 * The cookie keeper: owns the server's minute keys, seals and opens the cookie `K` (96 bytes in
 * v1, 168 in v2), and admits each cookie at most once (the replay guard).
 */

import type { CookieContents } from '../protocol/boxes.js';
import type { CookieSecretsV2 } from './v2.js';

export type { CookieContents, CookieSecretsV2 };

export interface CookieKeeper {
  /** `k16 · secretbox(EC · ESs, "minute-k" · k16, current minute key)`: 96 bytes. */
  seal(clientEphemeralPublicKey: Uint8Array, serverEphemeralSecretKey: Uint8Array): Promise<Uint8Array>;

  /**
   * Open a cookie with the current, then the previous minute key. Does not mark it used (see
   * `admit`). Rejects `EAUTH` when it does not open or was already admitted, `EINVAL` on a wrong size.
   */
  open(cookie: Uint8Array): Promise<CookieContents>;

  /**
   * Protocol v2: seal EC, ESs, ck3 and h2 (and an expiry two periods ahead) under the current
   * minute key's v2 cookie key: the 168-byte cookie K.
   */
  sealV2(secrets: CookieSecretsV2): Promise<Uint8Array>;

  /**
   * Protocol v2: open a cookie under the current, then the previous v2 cookie key. Does not mark
   * it used (see `admit`). Rejects `EAUTH` when it does not open, has expired, is not a v2 cookie
   * or was already admitted; `EINVAL` on a wrong size.
   */
  openV2(cookie: Uint8Array): Promise<CookieSecretsV2>;

  /**
   * Mark a cookie used, v1 (96 bytes) or v2 (168 bytes), atomically (check and insert in one
   * step): rejects `EAUTH` when it was admitted before (a replayed Vouch or Initiate, also one
   * racing on another connection) or no longer opens, `EBUSY` when the replay guard is full. The
   * server calls it only once the whole Vouch / Initiate has verified (vouch opened, client key
   * allowed, vouched EC = this connection's EC), so peers without an allowed key can never fill
   * the guard.
   */
  admit(cookie: Uint8Array): Promise<void>;

  close(): Promise<void>;
}
