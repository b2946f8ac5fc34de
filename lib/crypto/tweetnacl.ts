/** The always-available backend: tweetnacl for everything (its X25519 is the slowest of the three). */
import nacl from 'tweetnacl';
import type { CryptoBackend, KeyPair } from './backend.js';
import { MAC_BYTES } from './backend.js';
import {
  boxLongEnough,
  checkInto,
  checkLength,
  checkMessage,
  checkNonce,
  checkPublicKey,
  checkSecretKey,
  checkSharedKey,
  lowlevel,
  refuseLowOrder,
  sharedKeyFromPoint,
  withBoxes,
} from './common.js';
import type { BackendWithoutBoxes } from './common.js';

const ZERO_BYTES = 32; // crypto_secretbox's leading zero padding of the message
const BOX_ZERO_BYTES = 16; // ... and of the output

/**
 * tweetnacl's secretbox through reusable, zero-padded scratch space: nacl.secretbox and its open
 * allocate two padded copies per call, which dominates for the small messages of the data path.
 * Not re-entrant, which is fine: JavaScript runs one call at a time per thread.
 */
export class SecretboxScratch {
  private m = new Uint8Array(0);
  private c = new Uint8Array(0);

  /** Both scratch arrays, `n` bytes long. */
  private views(n: number): [Uint8Array, Uint8Array] {
    if (this.m.length < n) {
      this.m = new Uint8Array(n);
      this.c = new Uint8Array(n);
    }
    if (this.m.length === n) return [this.m, this.c];
    return [this.m.subarray(0, n), this.c.subarray(0, n)];
  }

  into(out: Uint8Array, offset: number, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
    const n = ZERO_BYTES + message.length;
    const [m, c] = this.views(n);
    m.fill(0, 0, ZERO_BYTES);
    m.set(message, ZERO_BYTES);
    lowlevel.crypto_secretbox(c, m, n, nonce, key);
    out.set(c.subarray(BOX_ZERO_BYTES, n), offset);
  }

  /** The plaintext of `box` (at least 16 bytes), or `null` if its tag does not verify. */
  open(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null {
    const n = BOX_ZERO_BYTES + box.length;
    const [m, c] = this.views(n);
    c.fill(0, 0, BOX_ZERO_BYTES);
    c.set(box, BOX_ZERO_BYTES);
    if (lowlevel.crypto_secretbox_open(m, c, n, nonce, key) !== 0) return null;
    return m.slice(ZERO_BYTES, n);
  }
}

export function makeTweetnaclSecretbox(): Pick<CryptoBackend, 'secretbox' | 'secretboxInto' | 'secretboxOpen' | 'secretboxOpenInPlace'> {
  const scratch = new SecretboxScratch();
  return {
    secretbox(message, nonce, key) {
      checkMessage(message);
      checkNonce(nonce);
      checkSharedKey(key);
      const out = new Uint8Array(message.length + MAC_BYTES);
      scratch.into(out, 0, message, nonce, key);
      return out;
    },
    secretboxInto(out, offset, message, nonce, key) {
      checkInto(out, offset, message, nonce, key);
      scratch.into(out, offset, message, nonce, key);
    },
    secretboxOpen(box, nonce, key) {
      checkNonce(nonce);
      checkSharedKey(key);
      if (!boxLongEnough(box)) return null;
      return scratch.open(box, nonce, key);
    },
    secretboxOpenInPlace(box, nonce, key) {
      checkNonce(nonce);
      checkSharedKey(key);
      if (!boxLongEnough(box)) return null;
      // tweetnacl opens into its own scratch; copying back keeps the caller's one-buffer contract.
      const plain = scratch.open(box, nonce, key);
      if (plain === null) return null;
      box.set(plain, 0);
      return new Uint8Array(box.buffer, box.byteOffset, plain.length);
    },
  };
}

export function createTweetnaclBackend(): CryptoBackend {
  const secret = makeTweetnaclSecretbox();
  const backend: BackendWithoutBoxes = {
    name: 'tweetnacl',
    keyPair(): KeyPair {
      const kp = nacl.box.keyPair();
      return { publicKey: kp.publicKey, secretKey: kp.secretKey };
    },
    publicKeyOf(secretKey) {
      checkSecretKey(secretKey);
      return nacl.scalarMult.base(secretKey);
    },
    scalarMult(secretKey, peer) {
      checkSecretKey(secretKey);
      checkPublicKey(peer);
      return refuseLowOrder(nacl.scalarMult(secretKey, peer));
    },
    beforenm(peer, secretKey) {
      checkPublicKey(peer);
      checkSecretKey(secretKey);
      return sharedKeyFromPoint(nacl.scalarMult(secretKey, peer));
    },
    ...secret,
    randomBytes(length) {
      checkLength(length);
      return nacl.randomBytes(length);
    },
  };
  return withBoxes(backend);
}

export { MAC_BYTES };
