/**
 * Does a pattern cover a peer? The one decision both the registry (server side `verify`) and the
 * allowed-address filter make about a remote IP address.
 */
import { matchesAddress, matchesName } from './patterns.js';
import type { Pattern } from './patterns.js';
import { namesOf, resolvesTo } from './resolve.js';

/** Patterns that can only be decided through DNS. */
export function needsResolver(pattern: Pattern): boolean {
  return pattern.kind === 'name' || pattern.kind === 'domain';
}

/**
 * Does `pattern` cover the peer at IP `address`? Addresses, networks and `*` decide at once;
 * a name covers the addresses it resolves to; a domain covers an address whose reverse name lies
 * under it AND resolves back to that address (a reverse record alone is whatever its owner says).
 */
export async function coversPeer(pattern: Pattern, address: string): Promise<boolean> {
  if (matchesAddress(pattern, address)) return true;
  if (pattern.kind === 'name') return resolvesTo(pattern.name, address);
  if (pattern.kind === 'domain') {
    for (const name of await namesOf(address)) {
      if (matchesName(pattern, name) && (await resolvesTo(name, address))) return true;
    }
  }
  return false;
}
