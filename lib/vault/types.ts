/**
 * The Vault: the only holder of the long-term secret key.
 *
 * The connection code needs exactly these operations from the long-term key during a handshake:
 *  - the server opens the Hello box (long-term nonce-free: the nonce is a short-term one the client chose)
 *    and the client's vouch `V`;
 *  - the server seals the Cookie box and the client seals the vouch `V`, each under a *safe* nonce
 *    that the vault itself builds (8-byte prefix · 16 scrambled counter bytes).
 *
 * No operation ever returns the secret key. An adapter (worker, in-process, secure memory, HSM) only
 * has to implement this interface; `test/vault-conformance.test.ts` checks any adapter against it.
 */

export interface SealedBox {
  /** The 16 scrambled safe-nonce bytes the vault chose (goes on the wire next to the box). */
  nonce16: Uint8Array;
  /** tag · ciphertext, `plaintext.length + 16` bytes. */
  box: Uint8Array;
}

export interface Vault {
  /** The long-term public key (32 bytes). Available once the vault is open. */
  readonly publicKey: Uint8Array;

  /**
   * Open a box sent to our long-term key by `peerPublicKey` under the full 24-byte `nonce`.
   * Rejects with a `CurvetunError` code `EAUTH` if it does not authenticate, `EINVAL` on wrong sizes.
   */
  open(box: Uint8Array, nonce: Uint8Array, peerPublicKey: Uint8Array): Promise<Uint8Array>;

  /**
   * Seal `plaintext` from our long-term key to `peerPublicKey` under the nonce
   * `noncePrefix (8 ASCII bytes) · safeNonce16`, where the vault makes `safeNonce16` itself.
   */
  seal(plaintext: Uint8Array, noncePrefix: Uint8Array, peerPublicKey: Uint8Array): Promise<SealedBox>;

  /** 16 bytes: a never-repeating counter with 8 random bytes, scrambled under the vault's scramble key. */
  safeNonce(): Promise<Uint8Array>;

  /** Release the vault (stop its worker, wipe secure memory). Idempotent. */
  close(): Promise<void>;
}
