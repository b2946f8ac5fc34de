/**
 * What every vault adapter does with the long-term key, written once: open and seal boxes with a
 * peer (shared keys cached in a bounded LRU), and make scrambled safe nonces.
 *
 * The secret key is reached only through `withSecret`, so an adapter can keep it in protected
 * memory and unlock it just for the scalar multiplication.
 */
import { LRUCache } from 'lru-cache';
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { COUNTER_BYTES, KEY_BYTES, LONG_TERM_PREFIX_BYTES, NONCE_BYTES, SAFE_NONCE_BYTES } from '../protocol/constants.js';
import { longTermNonce, safeNonceBlock } from '../protocol/nonce.js';
import { scramble } from '../protocol/tea.js';
import { HASH_BYTES, V2_NONCE_HELLO, V2_PREFIX_COOKIE, V2_PREFIX_VOUCH, encodeVouchPlaintextV2, isSuite } from '../protocol/v2/index.js';
import { chainHello, helloBoxKey, initialHash } from '../protocol/v2/schedule.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';
import type { CounterSource } from './counter.js';
import type { HelloOpening, HelloV2Opening, SealedBox } from './types.js';

/** The long-term nonce prefixes only the v2 operations may use (v1's generic `seal` refuses them). */
const V2_LONG_TERM_PREFIXES = [V2_PREFIX_VOUCH, V2_PREFIX_COOKIE];

export interface VaultCoreOptions {
  backend: CryptoBackend;
  publicKey: Uint8Array;
  scrambleKey: Uint8Array;
  counter: CounterSource;
  /** This copy's instance number (instance.ts), put in the top bits of every safe nonce's counter. Default 0. */
  instance?: number;
  /** Runs `fn` with the secret key bytes; the adapter decides where they live. */
  withSecret<T>(fn: (secretKey: Uint8Array) => T): T;
  /** Peers whose shared key is kept (default 1 024). */
  cacheSize?: number;
}

function check(name: string, value: unknown, size?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || (size !== undefined && value.length !== size)) {
    throw new CurvetunError('EINVAL', size === undefined ? `${name} must be bytes` : `${name} must be ${size} bytes`);
  }
}

export class VaultCore {
  readonly publicKey: Uint8Array;
  // Private for real (#): they hold the scramble key and shared keys, which inspect must never show.
  readonly #options: VaultCoreOptions;
  readonly #shared: LRUCache<string, Uint8Array>;

  constructor(options: VaultCoreOptions) {
    this.publicKey = options.publicKey;
    this.#options = options;
    this.#shared = new LRUCache({ max: options.cacheSize ?? 1024 });
  }

  [INSPECT](): string {
    return describe('VaultCore', { publicKey: publicKeyFact(this.publicKey), cachedPeers: this.#shared.size });
  }

  private sharedKey(peer: Uint8Array): Uint8Array {
    const id = Buffer.from(peer.buffer, peer.byteOffset, peer.byteLength).toString('base64');
    let key = this.#shared.get(id);
    if (!key) {
      key = this.#options.withSecret((secret) => this.#options.backend.beforenm(peer, secret));
      this.#shared.set(id, key);
    }
    return key;
  }

  open(box: unknown, nonce: unknown, peer: unknown): Uint8Array {
    check('the box', box);
    check('the nonce', nonce, NONCE_BYTES);
    check('the peer key', peer, KEY_BYTES);
    const plain = this.#options.backend.secretboxOpen(box, nonce, this.sharedKey(peer));
    if (plain === null) throw new CurvetunError('EAUTH', 'the box did not open with our long-term key');
    return plain;
  }

  /** A promise only when a counter reservation has to be written first (see counter.ts). */
  seal(plaintext: unknown, prefix: unknown, peer: unknown): MaybePromise<SealedBox> {
    check('the plaintext', plaintext);
    check('the nonce prefix', prefix, LONG_TERM_PREFIX_BYTES);
    check('the peer key', peer, KEY_BYTES);
    // v1's generic seal must not make v2 values either: v2's prefixes are the v2 operations' own.
    if (V2_LONG_TERM_PREFIXES.some((p) => p.every((x, i) => x === prefix[i]))) {
      throw new CurvetunError('EINVAL', 'a v2 nonce prefix: v2 boxes are made only by the v2 operations (sealVouchV2)');
    }
    return after(this.safeNonce(), (nonce16) => {
      const box = this.#options.backend.secretbox(plaintext, longTermNonce(prefix, nonce16), this.sharedKey(peer));
      return { nonce16, box };
    });
  }

  /**
   * See `Vault.openHello`. The key with an ephemeral peer is made fresh and not cached: it serves
   * one connection, and would only push long-term peers out of the cache.
   */
  openHello(box: unknown, nonce: unknown, clientEphemeralKey: unknown): MaybePromise<HelloOpening> {
    check('the box', box);
    check('the nonce', nonce, NONCE_BYTES);
    check('the client ephemeral key', clientEphemeralKey, KEY_BYTES);
    const sharedKey = this.#options.withSecret((secret) => this.#options.backend.beforenm(clientEphemeralKey, secret));
    const plaintext = this.#options.backend.secretboxOpen(box, nonce, sharedKey);
    if (plaintext === null) {
      sharedKey.fill(0);
      throw new CurvetunError('EAUTH', 'the Hello box did not open with our long-term key');
    }
    let nonce16: MaybePromise<Uint8Array>;
    try {
      nonce16 = this.safeNonce();
    } catch (error) {
      sharedKey.fill(0);
      throw error;
    }
    if (nonce16 instanceof Uint8Array) return { plaintext, sharedKey, nonce16 };
    return nonce16.then(
      (n) => ({ plaintext, sharedKey, nonce16: n }),
      (error: unknown) => {
        sharedKey.fill(0); // no nonce, no Cookie: the key must not outlive the failure
        throw error;
      },
    );
  }

  /**
   * See `Vault.openHelloV2`. Arguments arrive from another thread as plain data, so each is
   * checked here; the X25519 point and the Hello box key are wiped before returning.
   */
  openHelloV2(request: unknown): HelloV2Opening {
    const { suite, clientEphemeralKey, transcript, box } = (request ?? {}) as Record<string, unknown>;
    if (!isSuite(suite)) throw new CurvetunError('EINVAL', 'the suite must be 1 or 2');
    check('the client ephemeral key', clientEphemeralKey, KEY_BYTES);
    check('the transcript hash', transcript, HASH_BYTES);
    check('the Hello box', box, 16);
    const { backend } = this.#options;
    const dh = this.#options.withSecret((secret) => backend.scalarMult(secret, clientEphemeralKey));
    const chainingKey = chainHello(initialHash(suite, this.publicKey), dh, transcript);
    dh.fill(0);
    const boxKey = helloBoxKey(chainingKey);
    const opened = backend.secretboxOpen(box, V2_NONCE_HELLO, boxKey);
    boxKey.fill(0);
    if (opened === null) {
      chainingKey.fill(0);
      throw new CurvetunError('EAUTH', 'the v2 Hello box did not open with our long-term key');
    }
    return { chainingKey };
  }

  /**
   * See `Vault.sealVouchV2`. The key with the server's ephemeral key serves one handshake: made
   * fresh, never cached, wiped at once.
   */
  sealVouchV2(request: unknown): MaybePromise<SealedBox> {
    const { serverEphemeralKey, clientEphemeralKey, serverKey, transcript } = (request ?? {}) as Record<string, unknown>;
    check('the server ephemeral key', serverEphemeralKey, KEY_BYTES);
    check('the client ephemeral key', clientEphemeralKey, KEY_BYTES);
    check('the server key', serverKey, KEY_BYTES);
    check('the transcript hash', transcript, HASH_BYTES);
    const plaintext = encodeVouchPlaintextV2(clientEphemeralKey, serverKey, transcript);
    const { backend } = this.#options;
    return after(this.safeNonce(), (nonce16) => {
      const key = this.#options.withSecret((secret) => backend.beforenm(serverEphemeralKey, secret));
      try {
        return { nonce16, box: backend.secretbox(plaintext, longTermNonce(V2_PREFIX_VOUCH, nonce16), key) };
      } finally {
        key.fill(0);
      }
    });
  }

  /** `scramble(counter:u64be · 8 random bytes)`; a promise only while a reservation is written. */
  safeNonce(): MaybePromise<Uint8Array> {
    return after(this.#options.counter.next(), (counter) => {
      const block = safeNonceBlock(counter, this.#options.backend.randomBytes(SAFE_NONCE_BYTES - COUNTER_BYTES), this.#options.instance);
      return scramble(block, this.#options.scrambleKey);
    });
  }
}

export type MaybePromise<T> = T | Promise<T>;


/** `fn(value)`, now when `value` is at hand, later when it is a promise: no promise on the fast path. */
function after<T, R>(value: MaybePromise<T>, fn: (value: T) => R): MaybePromise<R> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}
