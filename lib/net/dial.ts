/**
 * Dialling a host by name without check-then-connect: resolve the name once, check exactly those
 * addresses against the allowed list, then connect to exactly those addresses (in the resolver's
 * order, the next one when a connection attempt fails) and never resolve again. Resolving twice —
 * once to check, once inside `net.connect` to dial — lets a DNS answer that changes in between
 * (TTL 0 rebinding) lead to an address that was never checked.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { connect as tcpConnect } from 'node:net';
import type { LookupFunction, Socket } from 'node:net';
import { CurvetunError, systemError } from '../errors.js';
import type { AddressFilter } from './filter.js';
import { canonicalAddress } from './patterns.js';

export type { LookupFunction } from 'node:net';

/** One address to dial, as the resolver gave it (canonical text). */
export interface DialTarget {
  address: string;
  family: 4 | 6;
}

/**
 * The addresses of `host`: itself when it is an IP address, otherwise the answer of ONE call to
 * `lookup` (net.connect's signature; default `dns.lookup`) asked for all addresses.
 * Rejects `ECLOSED` with the resolver's error as `cause` when the name does not resolve.
 */
export function resolveOnce(host: string, lookup: LookupFunction = dnsLookup as LookupFunction): Promise<DialTarget[]> {
  const literal = canonicalAddress(host);
  if (literal !== null) return Promise.resolve([{ address: literal, family: literal.includes(':') ? 6 : 4 }]);
  return new Promise((resolve, reject) => {
    const answered = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number): void => {
      if (error) {
        reject(systemError('ECLOSED', `cannot resolve ${host}: ${error.code ?? error.message}`, error));
        return;
      }
      // With { all: true } the answer is a list; a lookup that ignores `all` answers one address.
      const answers = Array.isArray(address) ? address : [{ address, family: family ?? 0 }];
      const targets: DialTarget[] = [];
      for (const a of answers) {
        const canonical = typeof a?.address === 'string' ? canonicalAddress(a.address) : null;
        if (canonical !== null && !targets.some((t) => t.address === canonical)) {
          targets.push({ address: canonical, family: canonical.includes(':') ? 6 : 4 });
        }
      }
      if (targets.length === 0) reject(new CurvetunError('ECLOSED', `cannot resolve ${host}: the lookup gave no IP address`));
      else resolve(targets);
    };
    try {
      lookup(host, { all: true }, answered);
    } catch (error) {
      reject(new CurvetunError('ECLOSED', `cannot resolve ${host}: the lookup threw`, { cause: error }));
    }
  });
}

/**
 * Resolve `host` once and check what came back: `EDENIED` unless the filter allows the name as
 * named (a name or domain pattern) or allows every address it resolved to. The result is exactly
 * what was checked: dial these and nothing else.
 */
export async function resolveAllowed(host: string, filter: AddressFilter | null, lookup?: LookupFunction): Promise<DialTarget[]> {
  const targets = await resolveOnce(host, lookup);
  if (filter && !(await filter.allowsResolved(host, targets.map((t) => t.address)))) {
    throw new CurvetunError('EDENIED', `${host} is not among the allowed addresses`);
  }
  return targets;
}

/** A connection attempt under way; `cancel` destroys it and rejects its promise. */
export interface Dialling {
  socket: Promise<Socket>;
  cancel(error: Error): void;
}

/** TCP options of each attempt (net.connect's). */
export interface DialOptions {
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Keep our side writable after the peer's FIN (half-close carried through). */
  allowHalfOpen?: boolean;
}

/**
 * Connect to `targets` in order: the first that accepts wins; a failed attempt moves on to the
 * next. No lookup happens here (each target is an IP address). When all fail, rejects with the
 * error of the last attempt (a Node error: `code`, `errno`, `syscall`, `address`, `port`).
 * `allowHalfOpen` keeps our writable side open after the peer's FIN (for half-close forwarding).
 */
export function dialInOrder(targets: readonly DialTarget[], port: number, options: DialOptions = {}): Dialling {
  let current: Socket | null = null;
  let cancelled: Error | null = null;
  let rejectNow: ((e: Error) => void) | null = null;
  const socket = (async () => {
    let lastError: Error = new CurvetunError('EINVAL', 'no address to connect to');
    for (const target of targets) {
      if (cancelled) throw cancelled;
      const tcp = tcpConnect({
        host: target.address,
        port,
        family: target.family,
        noDelay: options.noDelay ?? false,
        keepAlive: options.keepAlive ?? false,
        keepAliveInitialDelay: options.keepAliveInitialDelay ?? 0,
        allowHalfOpen: options.allowHalfOpen ?? false,
      });
      current = tcp;
      let onError: (e: Error) => void = () => undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          onError = reject;
          rejectNow = reject;
          tcp.once('connect', () => resolve());
          tcp.once('error', reject);
        });
        tcp.off('error', onError); // the caller attaches its own at once
        return tcp;
      } catch (error) {
        tcp.destroy();
        if (cancelled) throw cancelled;
        lastError = error as Error;
      } finally {
        current = null;
        rejectNow = null;
      }
    }
    throw lastError;
  })();
  return {
    socket,
    cancel(error) {
      cancelled ??= error;
      current?.destroy();
      rejectNow?.(error);
    },
  };
}
