/** The always-available backend: tweetnacl for everything (slow X25519, ~1 ms). */
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
  sharedKeyFromPoint,
} from './common.js';

const ZERO_BYTES = 32; // crypto_secretbox's leading zero padding of the message
const BOX_ZERO_BYTES = 16; // ... and of the output

/** tweetnacl's secretbox, but writing into a caller's buffer through reusable scratch space. */
export class SecretboxScratch {
  private m = new Uint8Array(0);
  private c = new Uint8Array(0);

  into(out: Uint8Array, offset: number, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
    const n = ZERO_BYTES + message.length;
    if (this.m.length < n) {
      this.m = new Uint8Array(n);
      this.c = new Uint8Array(n);
    }
    const m = this.m.length === n ? this.m : this.m.subarray(0, n);
    const c = this.c.length === n ? this.c : this.c.subarray(0, n);
    m.fill(0, 0, ZERO_BYTES);
    m.set(message, ZERO_BYTES);
    lowlevel.crypto_secretbox(c, m, n, nonce, key);
    out.set(c.subarray(BOX_ZERO_BYTES, n), offset);
  }
}

export function makeTweetnaclSecretbox(): Pick<CryptoBackend, 'secretbox' | 'secretboxInto' | 'secretboxOpen'> {
  const scratch = new SecretboxScratch();
  return {
    secretbox(message, nonce, key) {
      checkMessage(message);
      checkNonce(nonce);
      checkSharedKey(key);
      return nacl.secretbox(message, nonce, key);
    },
    secretboxInto(out, offset, message, nonce, key) {
      checkInto(out, offset, message, nonce, key);
      scratch.into(out, offset, message, nonce, key);
    },
    secretboxOpen(box, nonce, key) {
      checkNonce(nonce);
      checkSharedKey(key);
      if (!boxLongEnough(box)) return null;
      return nacl.secretbox.open(box, nonce, key);
    },
  };
}

export function createTweetnaclBackend(): CryptoBackend {
  const secret = makeTweetnaclSecretbox();
  const backend: CryptoBackend = {
    name: 'tweetnacl',
    keyPair(): KeyPair {
      const kp = nacl.box.keyPair();
      return { publicKey: kp.publicKey, secretKey: kp.secretKey };
    },
    publicKeyOf(secretKey) {
      checkSecretKey(secretKey);
      return nacl.scalarMult.base(secretKey);
    },
    beforenm(peer, secretKey) {
      checkPublicKey(peer);
      checkSecretKey(secretKey);
      return sharedKeyFromPoint(nacl.scalarMult(secretKey, peer));
    },
    ...secret,
    box(message, nonce, peer, secretKey) {
      return secret.secretbox(message, nonce, backend.beforenm(peer, secretKey));
    },
    boxOpen(box, nonce, peer, secretKey) {
      return secret.secretboxOpen(box, nonce, backend.beforenm(peer, secretKey));
    },
    randomBytes(length) {
      checkLength(length);
      return nacl.randomBytes(length);
    },
  };
  return backend;
}

export { MAC_BYTES };
