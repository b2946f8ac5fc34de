/**
 * Decisions over a parsed registry: who may connect (server side) and which key a host has
 * (client side). Pure apart from the name lookups that name and domain patterns need.
 */
import { CurvetunError } from '../errors.js';
import { keysEqual } from '../keys/text.js';
import { canonicalAddress, matchesAddress, matchesName } from '../net/patterns.js';
import type { Pattern } from '../net/patterns.js';
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

/** A list of IP addresses from another thread, canonical; EINVAL for anything else. */
export function checkAddresses(addresses: unknown): string[] {
  if (!Array.isArray(addresses) || addresses.length > 64) throw new CurvetunError('EINVAL', 'addresses must be a list of at most 64 IP addresses');
  return addresses.map((a) => {
    const canonical = typeof a === 'string' ? canonicalAddress(a) : null;
    if (canonical === null) throw new CurvetunError('EINVAL', 'addresses must be IP addresses');
    return canonical;
  });
}

/** Where a line stands in a client-side lookup: the higher `rank` wins; `tier` names it in errors. */
export interface Precedence {
  rank: number;
  tier: string;
}

/**
 * The client-side order (docs/registry.md has it as a table): lines that name the host — its exact
 * name, then domains, longer first — beat lines that match only an address it resolved to — an
 * exact address, then networks, longer prefix first (an IPv4 /24 ranks with an IPv6 /120: both
 * leave 8 host bits) — and `*` comes last.
 */
export function precedence(pattern: Pattern): Precedence {
  switch (pattern.kind) {
    case 'name':
      return { rank: 4000, tier: 'exact name' };
    case 'domain':
      return { rank: 3000 + pattern.domain.length, tier: `domain .${pattern.domain}` };
    case 'address':
      return { rank: 2000, tier: 'exact address' };
    case 'network': {
      const hostBits = (pattern.family === 'ipv4' ? 32 : 128) - pattern.prefix;
      return { rank: 1000 + 128 - hostBits, tier: `network with ${hostBits} host bits` };
    }
    case 'any':
      return { rank: 0, tier: '*' };
  }
}

export interface LookupOptions {
  /** What the caller resolved the host to (and will dial); without it a name is resolved here. */
  addresses?: readonly string[];
  /** The registry file, to name lines in errors. */
  file?: string;
}

/**
 * The key to expect from `host`: the matching line of highest precedence (see `precedence`).
 * Two lines of that precedence with different keys are ambiguous: `EKEY` naming both lines, never
 * "the first line wins" (file order is not a statement of trust).
 */
export async function lookupKey(entries: readonly ParsedEntry[], host: string, options: LookupOptions = {}): Promise<Uint8Array | undefined> {
  return (await lookupLine(entries, host, options))?.key;
}

/**
 * The line `lookupKey` takes its key from; its `@v1` marker says which version to speak. Two
 * lines of the top precedence that disagree on the key, or on the marker, are `EKEY` alike.
 */
export async function lookupLine(entries: readonly ParsedEntry[], host: string, options: LookupOptions = {}): Promise<ParsedEntry | undefined> {
  if (typeof host !== 'string' || host.length === 0) throw new CurvetunError('EINVAL', 'lookup needs a host name or address');
  const asAddress = canonicalAddress(host);
  const resolved = asAddress !== null ? [asAddress] : options.addresses ?? (await addressesOf(host));
  let best: { entry: ParsedEntry; precedence: Precedence } | null = null;
  let rival: ParsedEntry | null = null;
  for (const entry of entries) {
    const matches = (asAddress === null && matchesName(entry.pattern, host)) || resolved.some((a) => matchesAddress(entry.pattern, a));
    if (!matches) continue;
    const p = precedence(entry.pattern);
    if (best === null || p.rank > best.precedence.rank) {
      best = { entry, precedence: p };
      rival = null;
    } else if (p.rank === best.precedence.rank && rival === null && (!keysEqual(entry.key, best.entry.key) || entry.v1 !== best.entry.v1)) {
      rival = entry;
    }
  }
  if (best && rival) {
    const where = (e: ParsedEntry) => `${options.file ?? 'known_hosts'}:${e.line} (${e.v1 ? '@v1 ' : ''}${e.who})`;
    const what = keysEqual(best.entry.key, rival.key) ? 'different versions (one line @v1)' : 'different keys';
    throw new CurvetunError(
      'EKEY',
      `${where(best.entry)} and ${where(rival)} give ${host} ${what} at the same precedence (${best.precedence.tier}); remove one, or add a line naming ${host}`,
    );
  }
  return best?.entry;
}
