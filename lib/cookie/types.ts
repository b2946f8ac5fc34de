/**
 * The cookie keeper: owns the server's minute keys, seals and opens the 96-byte cookie `K`,
 * and admits each cookie at most once (the replay guard).
 */

import type { CookieContents } from '../protocol/boxes.js';

export type { CookieContents };

export interface CookieKeeper {
  /** `k16 · secretbox(EC · ESs, "minute-k" · k16, current minute key)`: 96 bytes. */
  seal(clientEphemeralPublicKey: Uint8Array, serverEphemeralSecretKey: Uint8Array): Promise<Uint8Array>;

  /**
   * Open a cookie with the current, then the previous minute key. Does not mark it used (see
   * `admit`). Rejects `EAUTH` when it does not open or was already admitted, `EINVAL` on a wrong size.
   */
  open(cookie: Uint8Array): Promise<CookieContents>;

  /**
   * Mark a cookie used, atomically (check and insert in one step): rejects `EAUTH` when it was
   * admitted before (a replayed Vouch, also one racing on another connection) or no longer opens,
   * `EBUSY` when the replay guard is full. The server calls it only once the whole Vouch has
   * verified (vouch opened, client key allowed, vouched EC = this connection's EC), so peers
   * without an allowed key can never fill the guard.
   */
  admit(cookie: Uint8Array): Promise<void>;

  close(): Promise<void>;
}
