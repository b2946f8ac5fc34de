/**
 * The crypto backend: the few NaCl primitives curvetun needs, behind one small interface so a
 * faster implementation (node:crypto X25519, libsodium) can replace plain tweetnacl.
 *
 * Layouts follow NaCl's "easy" API: a box or secretbox is a 16-byte Poly1305 tag followed by the
 * ciphertext, `plaintext.length + 16` bytes in all.
 *
 * Every backend must give byte-identical results (checked by the shared test vectors), and fail
 * the same way:
 * - a key, nonce or buffer of the wrong size or type throws CurvetunError `EINVAL`;
 * - a low-order peer public key (all-zero X25519 result) throws `EAUTH` from scalarMult, beforenm,
 *   box and boxOpen;
 * - a forged, truncated or empty box makes the *Open functions return `null`, never throw.
 */

/**
 * The sizes of the primitives, defined once here (lib/crypto stands on its own: it imports nothing
 * but lib/errors.ts) and re-exported by lib/protocol/constants.ts, which builds the wire format's
 * sizes on them. Every Curve25519 key (public, secret, beforenm's shared key) and every secretbox
 * key is KEY_BYTES; XSalsa20's nonce is NONCE_BYTES; the Poly1305 tag before a box's ciphertext is
 * MAC_BYTES.
 */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAC_BYTES = 16;
// The same sizes under the names NaCl gives them.
export { KEY_BYTES as PUBLIC_KEY_BYTES, KEY_BYTES as SECRET_KEY_BYTES, KEY_BYTES as SHARED_KEY_BYTES };

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface CryptoBackend {
  /** Short name shown in benchmarks and logs: 'tweetnacl', 'node', 'sodium'. */
  readonly name: string;

  /** A fresh Curve25519 key pair. */
  keyPair(): KeyPair;

  /** The public key for a secret key. */
  publicKeyOf(secretKey: Uint8Array): Uint8Array;

  /**
   * Raw X25519 (RFC 7748): the 32-byte shared point of our `secretKey` and the peer's `publicKey`,
   * with no hashing. Protocol v2 feeds it into HKDF. An all-zero result (a low-order peer key)
   * throws `EAUTH` before anyone can use it. The caller wipes the result when done.
   */
  scalarMult(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /**
   * NaCl `crypto_box_beforenm`: HSalsa20 of the X25519 shared point (zero nonce).
   * Compute once per peer pair, then use `secretbox`/`secretboxOpen` with it.
   */
  beforenm(peerPublicKey: Uint8Array, secretKey: Uint8Array): Uint8Array;

  /** `crypto_secretbox_easy`: tag · ciphertext. */
  secretbox(message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array;

  /**
   * `crypto_secretbox_easy` written into `out` at `outOffset` (`message.length + 16` bytes): the
   * data path encrypts straight into the outgoing frame this way. `message` may already sit in
   * `out` at `outOffset + 16` (in-place encryption).
   */
  secretboxInto(out: Uint8Array, outOffset: number, message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): void;

  /** `crypto_secretbox_open_easy`: the plaintext, or `null` when the box does not authenticate. */
  secretboxOpen(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array | null;

  /**
   * The same, written over the box itself: on success the plaintext is the box's first
   * `box.length - 16` bytes (returned as a plain Uint8Array view of them). `null` when the box
   * does not authenticate, and the box is then left as it was: the tag is checked before anything
   * is written (v2's session tries such a box under later counters to name a deletion).
   * The data path opens large messages this way, so a message costs no second buffer.
   */
  secretboxOpenInPlace(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array | null;

  /** `crypto_box_easy`, the same as `secretbox` under `beforenm(peerPublicKey, secretKey)`. */
  box(message: Uint8Array, nonce: Uint8Array, peerPublicKey: Uint8Array, secretKey: Uint8Array): Uint8Array;

  /** `crypto_box_open_easy`: the plaintext, or `null` when the box does not authenticate. */
  boxOpen(box: Uint8Array, nonce: Uint8Array, peerPublicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | null;

  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
}
