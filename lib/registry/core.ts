/**
 * Decisions over a parsed registry: who may connect (server side) and which key a host has
 * (client side). Pure apart from the name lookups that name and domain patterns need.
 */
import { isIP } from 'node:net';
import { keysEqual } from '../keys/text.js';
import { matchesAddress, matchesName, specificity, unmapAddress } from '../net/patterns.js';
import { addressesOf, namesOf } from '../net/resolve.js';
import type { ParsedEntry } from './file.js';

export type Classification =
  | { kind: 'allowed'; entry: ParsedEntry }
  /** The address is pinned (an exact address entry) to another key. */
  | { kind: 'conflict' }
  /** Nothing in the registry speaks for this key from this address. */
  | { kind: 'unknown' };

/** Does `entry` cover the peer at `address`? Names resolve forward; domains map back and confirm. */
async function coversAddress(entry: ParsedEntry, address: string): Promise<boolean> {
  const p = entry.pattern;
  if (matchesAddress(p, address)) return true;
  const a = unmapAddress(address);
  if (p.kind === 'name') return (await addressesOf(p.name)).map(unmapAddress).includes(a);
  if (p.kind === 'domain') {
    for (const name of await namesOf(a)) {
      if (matchesName(p, name) && (await addressesOf(name)).map(unmapAddress).includes(a)) return true;
    }
  }
  return false;
}

export async function classify(entries: readonly ParsedEntry[], address: string, key: Uint8Array): Promise<Classification> {
  for (const entry of entries) {
    if (keysEqual(entry.key, key) && (await coversAddress(entry, address))) return { kind: 'allowed', entry };
  }
  const a = unmapAddress(address);
  const pinned = entries.some((e) => e.pattern.kind === 'address' && e.pattern.address === a);
  return pinned ? { kind: 'conflict' } : { kind: 'unknown' };
}

/** The key to expect from `host`: the most specific matching entry wins; ties go to the first line. */
export async function lookupKey(entries: readonly ParsedEntry[], host: string): Promise<Uint8Array | undefined> {
  const candidates: ParsedEntry[] = [];
  const hostIsAddress = isIP(unmapAddress(host)) !== 0;
  const resolved = hostIsAddress ? [host] : await addressesOf(host);
  for (const entry of entries) {
    if (!hostIsAddress && matchesName(entry.pattern, host)) candidates.push(entry);
    else if (entry.pattern.kind !== 'any' && resolved.some((a) => matchesAddress(entry.pattern, a))) candidates.push(entry);
    else if (entry.pattern.kind === 'any') candidates.push(entry);
  }
  candidates.sort((x, y) => specificity(y.pattern) - specificity(x.pattern) || x.line - y.line);
  return candidates[0]?.key;
}
