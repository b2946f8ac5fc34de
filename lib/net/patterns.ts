/**
 * Address patterns, shared by the registry (known_hosts) and the allowed-address filters:
 *
 *   *                any address
 *   192.0.2.7        one IPv4 address      2001:db8::7      one IPv6 address
 *   10.0.0.0/8       an IPv4 network       2001:db8::/32    an IPv6 network
 *   host.example     one DNS name (matches the addresses it resolves to)
 *   .example.com     a domain: example.com and every name below it (RFC 6265 §5.1.3 domain-match)
 *
 * Names compare case-insensitively and without a trailing dot. An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.7, as a dual-stack server reports IPv4 peers) matches the IPv4 patterns.
 */
import { BlockList, isIP } from 'node:net';
import { CurvetunError } from '../errors.js';

export type Pattern =
  | { kind: 'any'; text: string }
  | { kind: 'address'; text: string; address: string; family: 'ipv4' | 'ipv6'; list: BlockList }
  | { kind: 'network'; text: string; prefix: number; family: 'ipv4' | 'ipv6'; list: BlockList }
  | { kind: 'name'; text: string; name: string }
  | { kind: 'domain'; text: string; domain: string };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lower case, no trailing dot; `null` if it is not a valid DNS name. */
export function normalizeName(name: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return null;
  return n.split('.').every((label) => LABEL.test(label)) ? n : null;
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; other addresses unchanged. */
export function unmapAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function familyOf(address: string): 'ipv4' | 'ipv6' | null {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : null;
}

/** Parse one pattern; `EINVAL` with the reason when it is not one. */
export function parsePattern(text: string): Pattern {
  const t = text.trim();
  if (t === '*') return { kind: 'any', text: t };
  const slash = t.indexOf('/');
  if (slash >= 0) {
    const base = unmapAddress(t.slice(0, slash));
    const bits = t.slice(slash + 1);
    const family = familyOf(base);
    const max = family === 'ipv4' ? 32 : 128;
    if (!family || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      throw new CurvetunError('EINVAL', `'${t}' is not a CIDR network (address/prefix-length)`);
    }
    const list = new BlockList();
    list.addSubnet(base, Number(bits), family);
    return { kind: 'network', text: t, prefix: Number(bits), family, list };
  }
  const address = unmapAddress(t);
  const family = familyOf(address);
  if (family) {
    const list = new BlockList();
    list.addAddress(address, family);
    return { kind: 'address', text: t, address, family, list };
  }
  if (t.startsWith('.')) {
    const domain = normalizeName(t.slice(1));
    if (!domain) throw new CurvetunError('EINVAL', `'${t}' is not a domain pattern`);
    return { kind: 'domain', text: t, domain };
  }
  const name = normalizeName(t);
  if (!name) throw new CurvetunError('EINVAL', `'${t}' is not an address, network, name, domain pattern or *`);
  return { kind: 'name', text: t, name };
}

/** Does this IP address fall under an address or network pattern (or `*`)? Names never match here. */
export function matchesAddress(pattern: Pattern, address: string): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== 'address' && pattern.kind !== 'network') return false;
  const a = unmapAddress(address);
  const family = familyOf(a);
  if (!family) return false;
  return pattern.list.check(a, family);
}

/** RFC 6265 §5.1.3 domain-match of a host name against a pattern's name or domain. */
export function matchesName(pattern: Pattern, host: string): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.kind !== 'name' && pattern.kind !== 'domain') return false;
  if (familyOf(unmapAddress(host))) return false; // an IP address is never a name
  const h = normalizeName(host);
  if (!h) return false;
  if (pattern.kind === 'name') return h === pattern.name;
  return h === pattern.domain || h.endsWith(`.${pattern.domain}`);
}

/** How specific a pattern is: more specific entries win a client-side lookup. */
export function specificity(pattern: Pattern): number {
  switch (pattern.kind) {
    case 'address':
    case 'name':
      return 1000;
    case 'network':
      return 100 + pattern.prefix;
    case 'domain':
      return 50 + pattern.domain.length / 1000;
    case 'any':
      return 0;
  }
}
