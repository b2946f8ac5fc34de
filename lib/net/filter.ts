/**
 * The allowed-address filter: which peers a server accepts TCP from (checked before any
 * cryptography) and which hosts a client may connect to (checked before connecting).
 */
import { isIP } from 'node:net';
import { matchesAddress, matchesName, parsePattern, unmapAddress } from './patterns.js';
import type { Pattern } from './patterns.js';
import { addressesOf, namesOf } from './resolve.js';

export class AddressFilter {
  private constructor(readonly patterns: readonly Pattern[]) {}

  /** @example AddressFilter.parse(['127.0.0.0/8', '::1', '.corp.example']) */
  static parse(patterns: readonly string[]): AddressFilter {
    return new AddressFilter(patterns.map(parsePattern));
  }

  /** Synchronous check of a peer's IP address against address, network and `*` patterns only. */
  allowsAddress(address: string): boolean {
    return this.patterns.some((p) => matchesAddress(p, address));
  }

  /** Does this pattern list need DNS to decide about an IP address? */
  get usesNames(): boolean {
    return this.patterns.some((p) => p.kind === 'name' || p.kind === 'domain');
  }

  /**
   * Full check of an IP address, names included: a name pattern matches the addresses it
   * resolves to; a domain pattern matches when the address maps back to a name under it and
   * that name resolves to the address again.
   */
  async allowsPeer(address: string): Promise<boolean> {
    if (this.allowsAddress(address)) return true;
    const a = unmapAddress(address);
    for (const p of this.patterns) {
      if (p.kind === 'name' && (await addressesOf(p.name)).map(unmapAddress).includes(a)) return true;
      if (p.kind === 'domain') {
        for (const name of await namesOf(a)) {
          if (matchesName(p, name) && (await addressesOf(name)).map(unmapAddress).includes(a)) return true;
        }
      }
    }
    return false;
  }

  /** Client side: may we connect to `host` (a name or an address)? Names are matched, then resolved. */
  async allowsHost(host: string): Promise<boolean> {
    if (isIP(unmapAddress(host))) return this.allowsPeer(host);
    if (this.patterns.some((p) => matchesName(p, host))) return true;
    const addresses = await addressesOf(host);
    return addresses.length > 0 && addresses.every((a) => this.allowsAddress(a));
  }
}
