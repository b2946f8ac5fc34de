/**
 * X25519 by node:crypto (OpenSSL, much faster than tweetnacl's: bench/RESULTS.md, "Measurements behind design choices"), HSalsa20 and XSalsa20-Poly1305
 * by tweetnacl. Raw 32-byte keys become KeyObjects: secret keys through a fixed PKCS#8 DER prefix
 * (RFC 8410), public keys through JWK.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { CryptoBackend, KeyPair } from './backend.js';
import { SECRET_KEY_BYTES } from './backend.js';
import { checkLength, checkPublicKey, checkSecretKey, refuseLowOrder, sharedKeyFromPoint, withBoxes } from './common.js';
import type { BackendWithoutBoxes } from './common.js';
import { makeTweetnaclSecretbox } from './tweetnacl.js';
import { CurvetunError } from '../errors.js';

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

// Importing a raw private key costs OpenSSL a scalar multiplication (it derives the public key),
// so the KeyObject of every secret key this backend made or saw is kept, keyed by the array. A
// caller may overwrite (e.g. wipe) the array in place, so a digest of the bytes is checked on use;
// a digest rather than a copy, to leave no second copy of the key in the JS heap (a vault may
// keep it in locked memory).
const privateObjects = new WeakMap<Uint8Array, { digest: Buffer; key: KeyObject }>();

const digestOf = (secretKey: Uint8Array) => createHash('sha256').update(secretKey).digest();

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  const digest = digestOf(secretKey);
  const cached = privateObjects.get(secretKey);
  if (cached && cached.digest.equals(digest)) return cached.key;
  const der = Buffer.concat([PKCS8_X25519, secretKey]);
  try {
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    privateObjects.set(secretKey, { digest, key });
    return key;
  } finally {
    der.fill(0);
  }
}

// JWK import is about ten times cheaper than DER SPKI for public keys (bench/crypto-micro.ts;
// figures in bench/RESULTS.md), and a peer's public key is imported once per handshake.
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

function rawPublic(key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url'));
}

/** Whether this Node's OpenSSL does X25519 (it does on every supported Node; checked once). */
export function nodeX25519Works(): boolean {
  try {
    const sk = new Uint8Array(SECRET_KEY_BYTES).fill(7);
    rawPublic(createPublicKey(privateKeyObject(sk)));
    return true;
  } catch {
    return false;
  }
}

/** The raw shared point; OpenSSL refuses low-order points outright, which we report as the others do. */
function x25519(secretKey: Uint8Array, peer: Uint8Array): Buffer {
  try {
    return diffieHellman({ privateKey: privateKeyObject(secretKey), publicKey: publicKeyObject(peer) });
  } catch {
    throw new CurvetunError('EAUTH', 'the peer public key is a low-order point');
  }
}

export function createNodeBackend(): CryptoBackend {
  const secret = makeTweetnaclSecretbox();
  const backend: BackendWithoutBoxes = {
    name: 'node',
    keyPair(): KeyPair {
      const { privateKey } = generateKeyPairSync('x25519');
      const jwk = privateKey.export({ format: 'jwk' });
      const secretKey = new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
      privateObjects.set(secretKey, { digest: digestOf(secretKey), key: privateKey });
      return { publicKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')), secretKey };
    },
    publicKeyOf(secretKey) {
      checkSecretKey(secretKey);
      return rawPublic(createPublicKey(privateKeyObject(secretKey)));
    },
    scalarMult(secretKey, peer) {
      checkSecretKey(secretKey);
      checkPublicKey(peer);
      const point = x25519(secretKey, peer);
      // A plain array, not a view of OpenSSL's Buffer (which may sit in Node's shared pool).
      const out = new Uint8Array(point);
      point.fill(0);
      return refuseLowOrder(out);
    },
    beforenm(peer, secretKey) {
      checkPublicKey(peer);
      checkSecretKey(secretKey);
      const point = x25519(secretKey, peer);
      try {
        return sharedKeyFromPoint(point);
      } finally {
        point.fill(0);
      }
    },
    ...secret,
    randomBytes(length) {
      checkLength(length);
      return new Uint8Array(randomBytes(length)); // a plain array, not a Buffer view
    },
  };
  return withBoxes(backend);
}
