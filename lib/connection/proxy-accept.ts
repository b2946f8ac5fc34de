/**
 * The listener's PROXY protocol gate (option `proxyProtocol`): at the TCP accept boundary, before
 * any handshake byte is read, a connection must come from a trusted balancer and start with a
 * PROXY protocol header (lib/net/proxy-header.ts). The address the header carries then stands for
 * the connection everywhere after: allowedAddresses, the registry, the per-address caps, the
 * socket's `remoteAddress` and the logs. Anything else closes that connection, before any
 * cryptography; the bytes after the header (the Hello, if the client was quick) are put back for
 * the handshake.
 */
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import { AddressFilter } from '../net/filter.js';
import { parseProxyHeader } from '../net/proxy-header.js';
import type { ProxyHeader } from '../net/proxy-header.js';
import { trace } from '../trace.js';
import { setPeerOf } from './tcp-hooks.js';

export interface ProxyGateConfig {
  /** Is this TCP peer a balancer we believe? */
  trusted(address: string): boolean;
  /** The whole header must have arrived within this, ms. */
  timeoutMs: number;
  /** Connections waiting for their header at once; more are dropped at once. */
  maxWaiting: number;
}

/**
 * The `trusted` list of `proxyProtocol`: addresses and networks only (a name would make trust
 * depend on DNS), and not `*` (write 0.0.0.0/0 and ::/0 if every peer really is a balancer).
 */
export function trustedProxies(patterns: readonly string[]): (address: string) => boolean {
  if (!Array.isArray(patterns) || patterns.length === 0) throw new CurvetunError('EINVAL', 'proxyProtocol.trusted must list the balancers\' addresses or networks');
  const filter = AddressFilter.parse(patterns);
  if (filter.usesNames || filter.patterns.some((p) => p.kind === 'any')) {
    throw new CurvetunError('EINVAL', 'proxyProtocol.trusted takes IP addresses and CIDR networks only (no names, no *)');
  }
  return (address) => filter.allowsAddress(address);
}

export class ProxyGate {
  private readonly waiting = new Set<TcpSocket>();

  constructor(private readonly config: ProxyGateConfig) {}

  /**
   * Check `tcp`'s peer, read its header, then `passed(peer)` with the client it carries (or the
   * TCP peer itself for a balancer's own LOCAL/UNKNOWN connection); `refused` otherwise, with
   * the connection destroyed.
   */
  pass(tcp: TcpSocket, address: string, passed: (peer: string) => void, refused: (error: CurvetunError) => void): void {
    const refuse = (error: CurvetunError) => {
      tcp.destroy();
      if (trace.enabled) trace('listener: %s refused: %s', address, error.message);
      refused(error);
    };
    if (!this.config.trusted(address)) {
      return refuse(new CurvetunError('EDENIED', `${address} is not a trusted proxy: a PROXY protocol header is taken only from the trusted list`));
    }
    if (this.waiting.size >= this.config.maxWaiting) {
      return refuse(new CurvetunError('EBUSY', `too many connections waiting for their PROXY protocol header (${this.config.maxWaiting})`));
    }
    this.waiting.add(tcp);
    tcp.on('error', () => undefined); // reported through 'close' below; Node must not throw it
    readHeader(tcp, this.config.timeoutMs).then(
      (header) => {
        this.waiting.delete(tcp);
        if (tcp.destroyed) return refuse(new CurvetunError('ECLOSED', 'the connection closed right after its PROXY protocol header'));
        if (header.command === 'proxy') setPeerOf(tcp, header.source);
        passed(header.command === 'proxy' ? header.source.address : address);
      },
      (error: CurvetunError) => {
        this.waiting.delete(tcp);
        refuse(error);
      },
    );
  }

  /** The listener closes: connections still waiting for their header are dropped. */
  closeAll(): void {
    for (const tcp of this.waiting) tcp.destroy();
  }
}

/**
 * Read one PROXY header off `tcp` without taking a byte more: what follows it is put back
 * (`unshift`) for whoever reads next. Rejects `EPROTO` (not a valid header), `ETIMEDOUT` or
 * `ECLOSED`; leaves no listener of its own behind but a no-op error handler.
 */
function readHeader(tcp: TcpSocket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (error: CurvetunError | null, header?: ProxyHeader, rest?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      tcp.off('readable', onReadable);
      tcp.off('end', onEnd);
      tcp.off('close', onEnd);
      if (error) return reject(error);
      // Put back what followed the header; the next 'data' listener (the handshake) gets it first.
      if (rest && rest.length > 0) tcp.unshift(rest);
      resolve(header!);
    };
    const onReadable = () => {
      for (let chunk = tcp.read() as Buffer | null; chunk !== null; chunk = tcp.read() as Buffer | null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        let header: ProxyHeader | null;
        try {
          header = parseProxyHeader(buffered);
        } catch (error) {
          return finish(error as CurvetunError);
        }
        if (header) return finish(null, header, buffered.subarray(header.length));
      }
    };
    const onEnd = () => finish(new CurvetunError('ECLOSED', 'the connection closed before its PROXY protocol header was complete'));
    const timer = setTimeout(() => finish(new CurvetunError('ETIMEDOUT', `no complete PROXY protocol header within ${timeoutMs} ms`)), timeoutMs);
    tcp.on('readable', onReadable);
    tcp.once('end', onEnd);
    tcp.once('close', onEnd);
  });
}
