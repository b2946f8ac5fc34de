/**
 * The allowed-address filter: which peers a server accepts TCP from (checked on the raw
 * remoteAddress before any cryptography) and which hosts a client may connect to (checked before
 * connecting). Same pattern syntax as the registry (lib/net/patterns.ts).
 */
import { addressesOf } from './resolve.js';
import { canonicalAddress, matchesAddress, matchesName, parsePattern } from './patterns.js';
import type { Pattern } from './patterns.js';
import { coversPeer, needsResolver } from './peer.js';

export class AddressFilter {
  /** True when some pattern is a name or domain, so a peer address may need DNS to decide. */
  readonly usesNames: boolean;

  private constructor(readonly patterns: readonly Pattern[]) {
    this.usesNames = patterns.some(needsResolver);
  }

  /**
   * Parse a list of patterns; `EINVAL` naming the first bad one.
   * @example AddressFilter.parse(['127.0.0.0/8', '::1', '.corp.example'])
   */
  static parse(patterns: readonly string[]): AddressFilter {
    return new AddressFilter(patterns.map(parsePattern));
  }

  /**
   * The one entry point. Server: `allows(socket.remoteAddress)`. Client: `allows(address, host)`
   * with the address it is about to dial and the name the user gave.
   *
   * Answers synchronously (a plain boolean) whenever no DNS is needed: always when the list has
   * only addresses, networks and `*`, and whenever such a pattern or a name pattern for `hostname`
   * already matches. Otherwise it returns a Promise (bounded by the resolver timeout).
   * An `address` that is not an IP address is treated as a host name.
   */
  allows(address: string, hostname?: string): boolean | Promise<boolean> {
    if (typeof address !== 'string') return false;
    if (canonicalAddress(address) === null) return this.allowsHost(address);
    if (this.allowsAddress(address)) return true;
    if (hostname !== undefined && this.patterns.some((p) => matchesName(p, hostname))) return true;
    return this.usesNames ? this.allowsPeer(address) : false;
  }

  /** Synchronous check of an IP address against address, network and `*` patterns only. */
  allowsAddress(address: string): boolean {
    return this.patterns.some((p) => matchesAddress(p, address));
  }

  /** Full check of a peer's IP address, name and domain patterns included (may use DNS). */
  async allowsPeer(address: string): Promise<boolean> {
    if (this.allowsAddress(address)) return true;
    for (const p of this.patterns) {
      if (needsResolver(p) && (await coversPeer(p, address))) return true;
    }
    return false;
  }

  /**
   * Client side: may we connect to `host` (a name or an address)? A name allowed by a name or
   * domain pattern is allowed as it is; otherwise every address it resolves to must be allowed,
   * so a name cannot smuggle a connection to an address outside the list.
   */
  async allowsHost(host: string): Promise<boolean> {
    if (canonicalAddress(host) !== null) return this.allowsPeer(host);
    if (this.patterns.some((p) => matchesName(p, host))) return true;
    return this.allowsResolved(host, await addressesOf(host));
  }

  /**
   * Client side, once `host` has been resolved: may we dial `addresses`? The same rule as
   * `allowsHost`, decided on the addresses given rather than on a lookup of our own, so the caller
   * can dial exactly what was checked (lib/net/dial.ts).
   */
  async allowsResolved(host: string, addresses: readonly string[]): Promise<boolean> {
    if (canonicalAddress(host) === null && this.patterns.some((p) => matchesName(p, host))) return true;
    if (addresses.length === 0) return false;
    for (const a of addresses) if (!(await this.allowsPeer(a))) return false;
    return true;
  }
}
