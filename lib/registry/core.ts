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
  /** `v1`: an allowing line carries the `@v1` marker. */
  | { kind: 'allowed'; entry: ParsedEntry; v1: boolean }
  /** The address is pinned (an exact address entry) to another key. */
  | { kind: 'conflict'; keyKnown: boolean }
  /** Nothing in the registry speaks for this key from this address; `keyKnown`: some line has the key. */
  | { kind: 'unknown'; keyKnown: boolean };

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
  let allowing: ParsedEntry | undefined;
  for (const entry of withKey) {
    if (!matchesAddress(entry.pattern, peer.address)) continue;
    if (entry.v1) return { kind: 'allowed', entry, v1: true };
    allowing ??= entry;
  }
  // Name and domain lines need DNS: only when nothing cheap allowed the key, or to find a @v1 line.
  for (const entry of withKey) {
    if (allowing && !entry.v1) continue;
    if (!(await coversPeer(entry.pattern, peer.address))) continue;
    if (entry.v1) return { kind: 'allowed', entry, v1: true };
    allowing ??= entry;
  }
  if (allowing) return { kind: 'allowed', entry: allowing, v1: false };
  const keyKnown = withKey.length > 0;
  return isPinned(entries, peer.address) ? { kind: 'conflict', keyKnown } : { kind: 'unknown', keyKnown };
}

/** The key to expect from `host`: the most specific matching entry wins; ties go to the first line. */
export async function lookupKey(entries: readonly ParsedEntry[], host: string): Promise<Uint8Array | undefined> {
  return (await lookupLine(entries, host))?.key;
}

/** The line `lookupKey` takes its key from (its `@v1` marker says which version to speak). */
export async function lookupLine(entries: readonly ParsedEntry[], host: string): Promise<ParsedEntry | undefined> {
  if (typeof host !== 'string' || host.length === 0) throw new CurvetunError('EINVAL', 'lookup needs a host name or address');
  const asAddress = canonicalAddress(host);
  const resolved = asAddress !== null ? [asAddress] : await addressesOf(host);
  const candidates = entries.filter(
    (e) => e.pattern.kind === 'any' || (asAddress === null && matchesName(e.pattern, host)) || resolved.some((a) => matchesAddress(e.pattern, a)),
  );
  candidates.sort((x, y) => specificity(y.pattern) - specificity(x.pattern) || x.line - y.line);
  return candidates[0];
}
