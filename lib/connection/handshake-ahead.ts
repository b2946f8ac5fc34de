/**
 * Ephemeral key pairs made ahead of the handshake that will use them: X25519 pairs (both ends, v1
 * and v2) and the client's ML-KEM-768 pair (v2 hybrid).
 *
 * Why: making them is on the handshake's critical path (before the Hello goes out, or before the
 * server's worker calls start), and ML-KEM key generation in JavaScript takes longer than a
 * loopback round trip. Made in the turn after the previous handshake took its pair, they are ready
 * while this thread would otherwise wait for the network.
 *
 * Each pair is handed out once and forgotten here (never reused, never given twice); the
 * handshake wipes its secret half as before. At most `depth` pairs wait at a time. Only ephemeral
 * keys are made here: the long-term secret and the cookie keys stay in their workers.
 */
import type { CryptoBackend, KeyPair } from '../crypto/backend.js';
import type { Kem, KemKeyPair } from '../crypto/mlkem.js';

/** A small stock of values made by `make`, refilled in a later turn of the event loop. */
export class MadeAhead<T> {
  readonly #ready: T[] = [];
  #refilling = false;

  constructor(
    private readonly make: () => T,
    private readonly depth = 1,
  ) {}

  /** How many values wait (for tests and inspection; says nothing about the values). */
  get stocked(): number {
    return this.#ready.length;
  }

  /** One value, made ahead if one is ready, else made now; a refill is scheduled either way. */
  take(): T {
    const value = this.#ready.pop() ?? this.make();
    this.refillSoon();
    return value;
  }

  private refillSoon(): void {
    if (this.#refilling) return;
    this.#refilling = true;
    // setImmediate: after this turn's I/O, i.e. once the Hello (or the worker calls) are on their
    // way. Unref'd: a stock being made never keeps the process alive.
    setImmediate(() => {
      this.#refilling = false;
      if (this.#ready.length < this.depth) this.#ready.push(this.make());
      if (this.#ready.length < this.depth) this.refillSoon();
    }).unref();
  }
}

const x25519Stocks = new WeakMap<CryptoBackend, MadeAhead<KeyPair>>();
const kemStocks = new WeakMap<Kem, MadeAhead<KemKeyPair>>();

function stockOf<K extends object, T>(stocks: WeakMap<K, MadeAhead<T>>, maker: K, make: () => T): MadeAhead<T> {
  let stock = stocks.get(maker);
  if (!stock) stocks.set(maker, (stock = new MadeAhead(make)));
  return stock;
}

/** A fresh X25519 key pair of `backend` for one handshake (made ahead when one was ready). */
export function ephemeralKeyPair(backend: CryptoBackend): KeyPair {
  return stockOf(x25519Stocks, backend, () => backend.keyPair()).take();
}

/** A fresh ML-KEM key pair of `kem` for one v2 hybrid handshake (made ahead when one was ready). */
export function ephemeralKemKeyPair(kem: Kem): KemKeyPair {
  return stockOf(kemStocks, kem, () => kem.keyPair()).take();
}
