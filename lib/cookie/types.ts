/**
 * The cookie keeper: owns the server's minute keys, seals and opens the 96-byte cookie `K`,
 * and refuses a cookie that has already been opened once (the replay guard).
 */

import type { CookieContents } from '../protocol/boxes.js';

export type { CookieContents };

export interface CookieKeeper {
  /** `k16 · secretbox(EC · ESs, "minute-k" · k16, current minute key)`: 96 bytes. */
  seal(clientEphemeralPublicKey: Uint8Array, serverEphemeralSecretKey: Uint8Array): Promise<Uint8Array>;

  /**
   * Open a cookie with the current, then the previous minute key, and mark it used.
   * Rejects `EAUTH` when it does not open or was used before, `EBUSY` when the replay guard is full,
   * `EINVAL` on a wrong size.
   */
  open(cookie: Uint8Array): Promise<CookieContents>;

  close(): Promise<void>;
}
