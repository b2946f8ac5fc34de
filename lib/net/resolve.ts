/**
 * Name resolution for pattern matching through the system resolver (`dns.lookup`, so the hosts
 * file counts), bounded in time and cached, so a slow or failing resolver can delay a decision by
 * at most RESOLVE_TIMEOUT_MS but never hang it. Failures resolve to "no addresses" (deny).
 */
import { lookup, lookupService } from 'node:dns/promises';
import { LRUCache } from 'lru-cache';
import { canonicalAddress } from './patterns.js';

export const RESOLVE_TIMEOUT_MS = 2_000;
const POSITIVE_TTL_MS = 60_000;
/** A failed lookup is retried sooner: the name may just have been added. */
const NEGATIVE_TTL_MS = 5_000;

const forward = new LRUCache<string, string[]>({ max: 1024 });
const reverse = new LRUCache<string, string[]>({ max: 1024 });
/** Lookups under way, so a burst of handshakes from one peer asks the resolver once. */
const inFlight = new Map<string, Promise<string[]>>();

function bounded<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), RESOLVE_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([promise.catch(() => fallback), deadline]).finally(() => clearTimeout(timer));
}

async function cached(cache: LRUCache<string, string[]>, key: string, query: () => Promise<string[]>): Promise<string[]> {
  const hit = cache.get(key);
  if (hit) return hit;
  const running = inFlight.get(key);
  if (running) return running;
  const job = bounded(query(), [] as string[]).then((found) => {
    cache.set(key, found, { ttl: found.length > 0 ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS });
    return found;
  });
  inFlight.set(key, job);
  try {
    return await job;
  } finally {
    inFlight.delete(key);
  }
}

/** The addresses a name resolves to, in canonical form (empty when it does not resolve in time). */
export function addressesOf(name: string): Promise<string[]> {
  return cached(forward, `f:${name.toLowerCase()}`, async () => {
    const found = await lookup(name, { all: true, verbatim: true });
    return found.map((a) => canonicalAddress(a.address)).filter((a): a is string => a !== null);
  });
}

/** The host name an address maps back to through the system resolver (empty when none in time). */
export function namesOf(address: string): Promise<string[]> {
  const a = canonicalAddress(address);
  if (!a) return Promise.resolve([]);
  return cached(reverse, `r:${a}`, async () => [(await lookupService(a, 0)).hostname]);
}

/** Is `address` among the addresses `name` resolves to? */
export async function resolvesTo(name: string, address: string): Promise<boolean> {
  const a = canonicalAddress(address);
  return a !== null && (await addressesOf(name)).includes(a);
}
