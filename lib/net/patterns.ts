/**
 * Address patterns, ONE implementation shared by the registry (known_hosts) and the
 * allowed-address filters (docs/registry.md has the user-facing description):
 *
 *   *                any address, any name
 *   192.0.2.7        one IPv4 address      2001:db8::7      one IPv6 address
 *   10.0.0.0/8       an IPv4 network       2001:db8::/32    an IPv6 network
 *   host.example     one DNS name (exactly that name; as a peer: the addresses it resolves to)
 *   .example.com     a domain: example.com itself and every name below it (RFC 6265 §5.1.3 match)
 *
 * Names compare case-insensitively and without a trailing dot. An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.7, as a dual-stack server reports IPv4 peers) matches the IPv4 patterns and
 * the other way round; IPv6 addresses compare by value (2001:DB8:0::1 = 2001:db8::1).
 */
import { BlockList, SocketAddress, isIP } from 'node:net';
import { CurvetunError } from '../errors.js';
import { quotable } from '../keys/text.js';

export type Pattern =
  | { kind: 'any'; text: string }
  | { kind: 'address'; text: string; address: string; family: 'ipv4' | 'ipv6'; list: BlockList }
  | { kind: 'network'; text: string; prefix: number; family: 'ipv4' | 'ipv6'; list: BlockList }
  | { kind: 'name'; text: string; name: string }
  | { kind: 'domain'; text: string; domain: string };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC = /^[0-9]+$/;
/** Longest pattern text we look at; a DNS name is at most 253 characters, an IPv6 CIDR far less. */
const MAX_PATTERN = 300;

/**
 * Lower case, no trailing dot; `null` if it is not a valid DNS name. A name whose last label is all
 * digits (`1.2.3`, `010.0.0.1`) is refused: resolvers read such text as an IPv4 address.
 */
export function normalizeName(name: string): string | null {
  if (typeof name !== 'string' || name.length > MAX_PATTERN) return null;
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return null;
  const labels = n.split('.');
  if (!labels.every((label) => LABEL.test(label))) return null;
  return NUMERIC.test(labels[labels.length - 1]!) ? null : n;
}

/**
 * The canonical text of an IP address, or `null` if it is not one: IPv6 compressed and lower case,
 * without a zone (`%eth0`), and an IPv4-mapped IPv6 address as its plain IPv4 address.
 */
export function canonicalAddress(address: string): string | null {
  if (typeof address !== 'string' || address.length > MAX_PATTERN) return null;
  const v = isIP(address);
  if (v === 4) return address;
  if (v !== 6) return null;
  const text = new SocketAddress({ address, family: 'ipv6' }).address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  return mapped ? mapped[1]! : text;
}

function familyOf(canonical: string): 'ipv4' | 'ipv6' {
  return isIP(canonical) === 4 ? 'ipv4' : 'ipv6';
}

function invalid(text: string, why: string): CurvetunError {
  return new CurvetunError('EINVAL', `'${quotable(text)}' ${why}`);
}

/** Parse one pattern; `EINVAL` with the reason when it is not one. */
export function parsePattern(text: string): Pattern {
  if (typeof text !== 'string') throw new CurvetunError('EINVAL', 'a pattern must be a string');
  const t = text.trim();
  if (t.length > MAX_PATTERN) throw new CurvetunError('EINVAL', `a pattern is at most ${MAX_PATTERN} characters`);
  if (t === '*') return { kind: 'any', text: t };
  const slash = t.indexOf('/');
  if (slash >= 0) {
    const base = t.slice(0, slash);
    const bits = t.slice(slash + 1);
    const v = isIP(base);
    const max = v === 4 ? 32 : 128;
    if (v === 0 || base.includes('%') || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw invalid(t, 'is not a CIDR network (address/prefix-length)');
    }
    const family = v === 4 ? 'ipv4' : 'ipv6';
    const list = new BlockList();
    // BlockList masks host bits, and matches IPv4-mapped IPv6 against IPv4 rules and back.
    list.addSubnet(base, Number(bits), family);
    return { kind: 'network', text: t, prefix: Number(bits), family, list };
  }
  const address = canonicalAddress(t);
  if (address) {
    const family = familyOf(address);
    const list = new BlockList();
    list.addAddress(address, family);
    return { kind: 'address', text: t, address, family, list };
  }
  if (t.startsWith('*.')) throw invalid(t, 'is not a pattern: write .example.com for a domain and every name below it');
  if (t.startsWith('.')) {
    const domain = normalizeName(t.slice(1));
    if (!domain) throw invalid(t, 'is not a domain pattern');
    return { kind: 'domain', text: t, domain };
  }
  const name = normalizeName(t);
  if (!name) throw invalid(t, 'is not an address, network, name, domain pattern or *');
  return { kind: 'name', text: t, name };
}

/** Does this IP address fall under an address or network pattern (or `*`)? Names never match here. */
export function matchesAddress(pattern: Pattern, address: string): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== 'address' && pattern.kind !== 'network') return false;
  const a = canonicalAddress(address);
  if (!a) return false;
  return pattern.list.check(a, familyOf(a));
}

/**
 * RFC 6265 §5.1.3 domain-match of a host name against a name or domain pattern (or `*`): a name
 * pattern matches that name only; `.example.com` matches `example.com` and names ending in
 * `.example.com`. An IP address is never a name.
 */
export function matchesName(pattern: Pattern, host: string): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== 'name' && pattern.kind !== 'domain') return false;
  if (canonicalAddress(host)) return false;
  const h = normalizeName(host);
  if (!h) return false;
  if (pattern.kind === 'name') return h === pattern.name;
  return h === pattern.domain || h.endsWith(`.${pattern.domain}`);
}
