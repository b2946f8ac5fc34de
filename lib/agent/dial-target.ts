/**
 * How the agent reaches a channel's target: check it against the allow-list before anything
 * else, resolve a name once, and connect to exactly the addresses that were checked (never a
 * second lookup, so a DNS answer that changes in between cannot lead anywhere unchecked), all
 * within one deadline.
 */
import type { Socket as TcpSocket } from 'node:net';
import type { ChannelTarget } from '../channels/index.js';
import { CurvetunError } from '../errors.js';
import { dialInOrder, resolveAllowed } from '../net/dial.js';
import type { Dialling, LookupFunction } from '../net/dial.js';
import type { AddressFilter } from '../net/filter.js';

export interface DialOptions {
  /** Resolves names (net.connect's signature); called at most once. */
  lookup?: LookupFunction;
  /** The whole attempt, resolution included, ms. */
  timeoutMs: number;
}

/**
 * A TCP connection to `target` (half-open allowed, Nagle off), or a rejection: `EDENIED` when the
 * allow-list does not cover it (nothing was dialled), `ETIMEDOUT`, or the resolver's or socket's
 * error (`cause` and `code` as Node gave them).
 */
export async function dialTarget(target: ChannelTarget, filter: AddressFilter, options: DialOptions): Promise<{ socket: TcpSocket; address: string }> {
  let dialling: Dialling | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new CurvetunError('ETIMEDOUT', `no connection to ${target.host}:${target.port} within ${options.timeoutMs} ms`);
      dialling?.cancel(error);
      reject(error);
    }, options.timeoutMs);
  });
  deadline.catch(() => undefined);
  try {
    const addresses = await Promise.race([resolveAllowed(target.host, filter, options.lookup), deadline]);
    dialling = dialInOrder(addresses, target.port, { noDelay: true, allowHalfOpen: true });
    const socket = await Promise.race([dialling.socket, deadline]);
    return { socket, address: socket.remoteAddress ?? addresses[0]!.address };
  } finally {
    clearTimeout(timer);
  }
}
