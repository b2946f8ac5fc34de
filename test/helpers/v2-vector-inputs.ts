/**
 * The fixed inputs of the v2 test vectors: every secret and every random value, each the SHA-256
 * of a label (twice for the 64-byte ML-KEM seed), so anyone can re-derive them.
 */
import { createHash } from 'node:crypto';
import type { VectorInputs } from './v2-reference.js';

const seed = (label: string, bytes = 32) => {
  const h = (l: string) => createHash('sha256').update(`curvetun v2 vector ${l}`).digest();
  return Buffer.concat([h(label), h(`${label} 2`)]).subarray(0, bytes).toString('hex');
};

/** The vault's scramble key and 8 random bytes: they make v16 (the vault's first safe nonce). */
export const VAULT_SCRAMBLE_KEY = new Uint8Array(Buffer.from(seed('scramble key', 32), 'hex'));
export const VAULT_RANDOM8 = new Uint8Array(Buffer.from(seed('safe nonce random', 8), 'hex'));

export function vectorInputs(suite: 1 | 2, v16: string): VectorInputs {
  return {
    suite,
    serverSecret: seed('server secret'),
    clientSecret: seed('client secret'),
    clientEphemeralSecret: seed('client ephemeral secret'),
    serverEphemeralSecret: seed('server ephemeral secret'),
    mlkemSeed: suite === 2 ? seed('ml-kem keygen seed', 64) : '',
    mlkemMessage: suite === 2 ? seed('ml-kem encapsulation message') : '',
    cookieNonce24: seed('cookie nonce', 24),
    minuteKey: seed('minute key'),
    k16: seed('k16', 16),
    expiry: 121_000,
    v16,
    readyRandom: seed('ready random'),
    clientMaxMessageBytes: 16 * 1024 * 1024,
    serverMaxMessageBytes: 1 << 20,
    clientMessage: 'hello server',
    serverMessage: 'hello client',
    clientMessageAfterUpdate: 'after the key update',
    closeCode: 1000,
    closeReason: 'done',
    serverMessageAfterUpdate: 'after the server key update',
  };
}
