/**
 * Joining a plain TCP connection to a curvetun stream, both ways, counting the bytes: the core of
 * `curvetun serve` (curvetun → upstream service) and `curvetun tunnel` (local client → curvetun).
 */
import type { Socket as TcpSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CurvetunError } from '../errors.js';

export interface ForwardStats {
  /** Bytes read from the plain TCP side and written into curvetun. */
  tcpToTunnel: number;
  /** Bytes read from curvetun and written to the plain TCP side. */
  tunnelToTcp: number;
  /** Why it ended: 'closed' for a clean end, else the first error's code or message. */
  end: string;
  /** The side that ended or failed first. */
  first: 'tcp' | 'tunnel';
}

/**
 * Pipe `tcp` and `tunnel` into each other (with backpressure both ways) until either ends or
 * fails; then both are closed. Resolves once, with the byte counts and how it ended.
 */
export function forward(tcp: TcpSocket, tunnel: Duplex): Promise<ForwardStats> {
  const stats: ForwardStats = { tcpToTunnel: 0, tunnelToTcp: 0, end: 'closed', first: 'tcp' };
  return new Promise((resolve) => {
    let finished = false;
    const finish = (side: ForwardStats['first'], error?: Error) => {
      if (error && stats.end === 'closed') stats.end = (error as NodeJS.ErrnoException).code ?? error.message;
      if (finished) return;
      finished = true;
      stats.first = side;
      // One side is done: the other cannot continue (no half-close in the protocol).
      tcp.end();
      tunnel.end();
      // Bounded: whatever is still flushing gets a short grace, then both are torn down.
      const timer = setTimeout(() => {
        tcp.destroy();
        tunnel.destroy();
      }, 2_000);
      timer.unref();
      let open = 2;
      const closed = () => {
        if (--open === 0) {
          clearTimeout(timer);
          resolve(stats);
        }
      };
      if (tcp.closed) closed();
      else tcp.once('close', closed);
      if (tunnel.closed) closed();
      else tunnel.once('close', closed);
    };
    tcp.on('data', (chunk: Buffer) => (stats.tcpToTunnel += chunk.length));
    tunnel.on('data', (chunk: Buffer) => (stats.tunnelToTcp += chunk.length));
    tcp.pipe(tunnel, { end: false });
    tunnel.pipe(tcp, { end: false });
    tcp.once('end', () => finish('tcp'));
    tunnel.once('end', () => finish('tunnel'));
    tcp.once('error', (error) => finish('tcp', error));
    tunnel.once('error', (error) => finish('tunnel', error));
    tcp.once('close', () => finish('tcp'));
    tunnel.once('close', () => finish('tunnel'));
  });
}

/**
 * Join `tcp` and a Duplex that has a real half-close (a channel, lib/channels/) both ways: each
 * direction ends on its own (TCP's FIN ends the channel's writable side, the channel's end sends
 * FIN), so protocols that half-close keep working; it is over once both directions have ended.
 * A failure of either side tears down both: the channel with the error (its peer sees an abort),
 * TCP with a reset (its peer sees ECONNRESET, never a clean end). `tcp` should allow half-open
 * connections (`allowHalfOpen: true`), or Node ends its writable side when the reading side ends.
 */
export function forwardHalfClose(tcp: TcpSocket, duplex: Duplex): Promise<ForwardStats> {
  const stats: ForwardStats = { tcpToTunnel: 0, tunnelToTcp: 0, end: 'closed', first: 'tcp' };
  return new Promise((resolve) => {
    let firstKnown = false;
    const first = (side: ForwardStats['first']) => {
      if (!firstKnown) stats.first = side;
      firstKnown = true;
    };
    let failed = false;
    const fail = (side: ForwardStats['first'], error: Error) => {
      first(side);
      if (failed) return;
      failed = true;
      stats.end = (error as NodeJS.ErrnoException).code ?? error.message;
      if (!tcp.destroyed) tcp.resetAndDestroy();
      if (!duplex.destroyed) duplex.destroy(error);
    };
    // A side that closes before both its directions ended was cut short.
    const cutShort = (side: string) => new CurvetunError('ECLOSED', `the ${side} closed before both directions ended`);
    let open = 2;
    const closed = () => {
      if (--open === 0) resolve(stats);
    };
    tcp.on('data', (chunk: Buffer) => (stats.tcpToTunnel += chunk.length));
    duplex.on('data', (chunk: Buffer) => (stats.tunnelToTcp += chunk.length));
    tcp.once('end', () => first('tcp'));
    duplex.once('end', () => first('tunnel'));
    tcp.pipe(duplex);
    duplex.pipe(tcp);
    tcp.on('error', (error) => fail('tcp', error));
    duplex.on('error', (error) => fail('tunnel', error));
    tcp.once('close', () => {
      if (!tcp.readableEnded || !tcp.writableFinished) fail('tcp', cutShort('TCP connection'));
      closed();
    });
    duplex.once('close', () => {
      if (!duplex.readableEnded || !duplex.writableFinished) fail('tunnel', cutShort('channel'));
      closed();
    });
  });
}
