/**
 * Name resolution for pattern matching, bounded in time and cached briefly, so a slow resolver
 * can delay but never hang a handshake.
 */
import { lookup, lookupService } from 'node:dns/promises';
import { LRUCache } from 'lru-cache';

const TIMEOUT_MS = 2_000;
const forward = new LRUCache<string, string[]>({ max: 1024, ttl: 60_000 });
const reverse = new LRUCache<string, string[]>({ max: 1024, ttl: 60_000 });

function bounded<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.catch(() => fallback),
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), TIMEOUT_MS);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The addresses a name resolves to (empty when it does not). */
export async function addressesOf(name: string): Promise<string[]> {
  const cached = forward.get(name);
  if (cached) return cached;
  const found = await bounded(
    lookup(name, { all: true, verbatim: true }).then((r) => r.map((a) => a.address)),
    [] as string[],
  );
  forward.set(name, found);
  return found;
}

/** The host name an address maps back to, through the system resolver (hosts file included). */
export async function namesOf(address: string): Promise<string[]> {
  const cached = reverse.get(address);
  if (cached) return cached;
  const found = await bounded(lookupService(address, 1).then((r) => [r.hostname]), [] as string[]);
  reverse.set(address, found);
  return found;
}
