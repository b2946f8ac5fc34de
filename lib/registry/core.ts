/**
 * Decisions over a parsed registry: who may connect (server side) and which key a host has
 * (client side). Pure apart from the name lookups that name and domain patterns need.
 */
import { CurvetunError } from '../errors.js';
import { keysEqual } from '../keys/text.js';
import { canonicalAddress, matchesAddress, matchesName, specificity } from '../net/patterns.js';
import { coversPeer } from '../net/peer.js';
import { addressesOf } from '../net/resolve.js';
import type { ParsedEntry } from './file.js';
import { KEY_BYTES } from '../protocol/constants.js';

export type Classification =
  | { kind: 'allowed'; entry: ParsedEntry }
  /** The address is pinned (an exact address entry) to another key. */
  | { kind: 'conflict' }
  /** Nothing in the registry speaks for this key from this address. */
  | { kind: 'unknown' };

/** Check the arguments that cross from other threads: wrong ones are EINVAL, never a TypeError. */
export function checkPeer(address: unknown, key: unknown): { address: string; key: Uint8Array } {
  const a = typeof address === 'string' ? canonicalAddress(address) : null;
  if (a === null) throw new CurvetunError('EINVAL', 'the remote address must be an IP address');
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new CurvetunError('EINVAL', `a public key is ${KEY_BYTES} bytes`);
  return { address: a, key };
}

/** Is the canonical `address` pinned, i.e. named by an exact address line? */
export function isPinned(entries: readonly ParsedEntry[], address: string): boolean {
  return entries.some((e) => e.pattern.kind === 'address' && matchesAddress(e.pattern, address));
}

/**
 * Allowed when some line carries `key` and covers `address`. Otherwise: conflict when an exact
 * address line pins that address to other keys (TOFU must not ask again), else unknown.
 */
export async function classify(entries: readonly ParsedEntry[], address: string, key: Uint8Array): Promise<Classification> {
  const peer = checkPeer(address, key);
  // Cheap lines first; lines that need DNS only when nothing else allowed the key.
  const withKey = entries.filter((e) => keysEqual(e.key, peer.key));
  for (const entry of withKey) if (matchesAddress(entry.pattern, peer.address)) return { kind: 'allowed', entry };
  for (const entry of withKey) if (await coversPeer(entry.pattern, peer.address)) return { kind: 'allowed', entry };
  return isPinned(entries, peer.address) ? { kind: 'conflict' } : { kind: 'unknown' };
}

/** A list of IP addresses from another thread, canonical; EINVAL for anything else. */
export function checkAddresses(addresses: unknown): string[] {
  if (!Array.isArray(addresses) || addresses.length > 64) throw new CurvetunError('EINVAL', 'addresses must be a list of at most 64 IP addresses');
  return addresses.map((a) => {
    const canonical = typeof a === 'string' ? canonicalAddress(a) : null;
    if (canonical === null) throw new CurvetunError('EINVAL', 'addresses must be IP addresses');
    return canonical;
  });
}

/**
 * The key to expect from `host`: the most specific matching entry wins; ties go to the first line.
 * `addresses`: what the caller resolved `host` to (and will dial); without it the name is resolved here.
 */
export async function lookupKey(entries: readonly ParsedEntry[], host: string, addresses?: readonly string[]): Promise<Uint8Array | undefined> {
  if (typeof host !== 'string' || host.length === 0) throw new CurvetunError('EINVAL', 'lookup needs a host name or address');
  const asAddress = canonicalAddress(host);
  const resolved = asAddress !== null ? [asAddress] : addresses ?? (await addressesOf(host));
  const candidates = entries.filter(
    (e) => e.pattern.kind === 'any' || (asAddress === null && matchesName(e.pattern, host)) || resolved.some((a) => matchesAddress(e.pattern, a)),
  );
  candidates.sort((x, y) => specificity(y.pattern) - specificity(x.pattern) || x.line - y.line);
  return candidates[0]?.key;
}
