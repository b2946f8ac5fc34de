/**
 * ML-KEM-768 (FIPS 203) behind one small interface, for protocol v2's hybrid suite.
 *
 * The implementation is `@noble/post-quantum` (pure JavaScript; see SECURITY.md for its audit
 * status and its own statement on side channels). No native ML-KEM is installable here: the
 * newest sodium-native (5.1.0 when this was written) exposes no crypto_kem_* function, and
 * node:crypto on Node 20 has no ML-KEM. A native one would be offered through this same interface,
 * with a test that both give byte-identical keys, ciphertexts and secrets from the same seeds.
 *
 * Deterministic key generation (64-byte seed) and encapsulation (32-byte message) exist for the
 * test vectors; the protocol always draws them fresh.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { CurvetunError } from '../errors.js';

export const MLKEM768 = { encapsulationKey: 1184, decapsulationKey: 2400, ciphertext: 1088, sharedSecret: 32, seed: 64, message: 32 } as const;

export interface KemKeyPair {
  /** Sent in the Hello (1 184 bytes). */
  encapsulationKey: Uint8Array;
  /** Kept by the client for one handshake, then wiped (2 400 bytes). */
  decapsulationKey: Uint8Array;
}

export interface Kem {
  readonly name: string;
  /** A fresh key pair, or the one a 64-byte seed determines. */
  keyPair(seed?: Uint8Array): KemKeyPair;
  /**
   * A ciphertext for `encapsulationKey` and the shared secret in it (fresh randomness, or the
   * 32-byte `message` given). `EPROTO` when the key is not a valid ML-KEM-768 key (FIPS 203's
   * modulus check), `EINVAL` for a wrong size.
   */
  encapsulate(encapsulationKey: Uint8Array, message?: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  /**
   * The shared secret in `ciphertext`. Never fails on a well-sized ciphertext (implicit rejection:
   * a tampered one gives an unrelated secret), so the protocol must detect a mismatch itself.
   */
  decapsulate(ciphertext: Uint8Array, decapsulationKey: Uint8Array): Uint8Array;
}

function sized(name: string, value: unknown, size: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new CurvetunError('EINVAL', `${name} must be ${size} bytes`);
}

const noble: Kem = {
  name: 'noble',
  keyPair(seed) {
    if (seed !== undefined) sized('an ML-KEM seed', seed, MLKEM768.seed);
    const { publicKey, secretKey } = ml_kem768.keygen(seed);
    return { encapsulationKey: publicKey, decapsulationKey: secretKey };
  },
  encapsulate(encapsulationKey, message) {
    sized('an ML-KEM encapsulation key', encapsulationKey, MLKEM768.encapsulationKey);
    if (message !== undefined) sized('an ML-KEM message', message, MLKEM768.message);
    try {
      const { cipherText, sharedSecret } = ml_kem768.encapsulate(encapsulationKey, message);
      return { ciphertext: cipherText, sharedSecret };
    } catch (error) {
      throw new CurvetunError('EPROTO', 'the ML-KEM encapsulation key is not valid (FIPS 203 modulus check)', { cause: error });
    }
  },
  decapsulate(ciphertext, decapsulationKey) {
    sized('an ML-KEM ciphertext', ciphertext, MLKEM768.ciphertext);
    sized('an ML-KEM decapsulation key', decapsulationKey, MLKEM768.decapsulationKey);
    return ml_kem768.decapsulate(ciphertext, decapsulationKey);
  },
};

/** The ML-KEM-768 implementation in use (today always `@noble/post-quantum`). */
export function getKem(): Kem {
  return noble;
}
