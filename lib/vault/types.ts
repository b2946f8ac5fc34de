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

/** What `openHello` gives back. */
export interface HelloOpening {
  /** The Hello box's plaintext (the protocol wants 64 zero bytes; the handshake checks). */
  plaintext: Uint8Array;
  /**
   * beforenm(EC, Ss) = beforenm(S, ECs): the key of this connection's Hello and Cookie boxes. The
   * client computed the same key to make its Hello, so this reveals nothing the peer does not
   * hold, and it is released only against a Hello box that opens with it. The caller wipes it
   * once the Cookie box is sealed.
   */
  sharedKey: Uint8Array;
  /** A fresh safe nonce (16 bytes) for the Cookie box, made by the vault like every other. */
  nonce16: Uint8Array;
}

/** What the server's vault is given at a v2 Hello (all public: the Hello's own fields). */
export interface HelloV2Request {
  /** 1 (X25519) or 2 (X25519 + ML-KEM-768): names the protocol hashed into h0. */
  suite: number;
  /** EC, the client's ephemeral public key from the Hello. */
  clientEphemeralKey: Uint8Array;
  /** h1, the transcript hash of the Hello up to its box (the caller computes it: public data). */
  transcript: Uint8Array;
  /** The Hello's 16-byte box (an empty plaintext's tag). */
  box: Uint8Array;
}

/** What `openHelloV2` gives back. */
export interface HelloV2Opening {
  /**
   * ck1 = KDF(h0, X(Ss, EC), "ctun2 ck hello" · h1): the chaining key the client computed from
   * its side to make the Hello box, so nothing the peer does not hold; released only against a
   * Hello box that opens under the key derived from it. The caller derives the Cookie box key
   * from it and wipes it when done.
   */
  chainingKey: Uint8Array;
}

/** What the client's vault is given to vouch for one v2 handshake. */
export interface VouchV2Request {
  /** ES, the server's ephemeral key from the Cookie box: the vouch is boxed to it. */
  serverEphemeralKey: Uint8Array;
  /** EC, our ephemeral key of this handshake. */
  clientEphemeralKey: Uint8Array;
  /** S, the server's long-term key we expect. */
  serverKey: Uint8Array;
  /** h2, the transcript hash after the Cookie's public values. */
  transcript: Uint8Array;
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

  /**
   * Optional, for audits and tests: a fresh safe nonce on its own (16 bytes: a never-repeating
   * counter with 8 random bytes, scrambled under the vault's scramble key). The handshake never
   * calls it: `seal` and `openHello` make their own. The three adapters here offer it.
   */
  safeNonce?(): Promise<Uint8Array>;

  /**
   * Optional, for speed: the server's first step in one call. Opens the Hello box sent by the
   * client ephemeral key `clientEphemeralKey` under `nonce` and, only if it opens, returns the
   * plaintext, that box's key and a safe nonce, so the server seals its Cookie box itself without
   * a second round trip to the vault. Rejects `EAUTH` (no key returned) when the box does not
   * open. The key is per connection and shared with the client; long-term shared keys (with a
   * client's long-term key) never leave the vault. Adapters without it are used through
   * `open` + `seal`.
   */
  openHello?(box: Uint8Array, nonce: Uint8Array, clientEphemeralKey: Uint8Array): Promise<HelloOpening>;

  /**
   * Protocol v2, server side, one call per handshake (optional so that v1-only adapters still
   * compile; the three adapters here have it, and a v2 handshake without it fails with `EINVAL`): compute h0 from our own S and the suite,
   * X(Ss, EC), ck1 and the Hello box key, open the Hello box under the v2 Hello nonce, and only if
   * it opens return ck1. Rejects `EAUTH` (nothing returned) when it does not open or EC is a
   * low-order point, `EINVAL` on a wrong size or suite. Purpose-specific: whatever the caller
   * passes, the result is a v2 chaining key, never a v1 key or a box.
   */
  openHelloV2?(request: HelloV2Request): Promise<HelloV2Opening>;

  /**
   * Protocol v2, client side, one call per handshake (optional, like `openHelloV2`): the vouch
   * `secretbox(pad16("ctun2 vouch") · EC · S · h2, "ctun2-vo" · v16, beforenm(ES, Cs))` with a
   * fresh safe nonce v16. The vault builds the plaintext and the nonce itself: no caller can have
   * it box other bytes, or use a v1 nonce prefix. `EAUTH` when ES is a low-order point, `EINVAL`
   * on a wrong size.
   */
  sealVouchV2?(request: VouchV2Request): Promise<SealedBox>;

  /** Release the vault (stop its worker, wipe secure memory). Idempotent. */
  close(): Promise<void>;
}
