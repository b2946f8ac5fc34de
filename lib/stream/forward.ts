/**
 * Joining a plain TCP connection to a curvetun stream, both ways, counting the bytes: the core of
 * `curvetun serve` (curvetun → upstream service) and `curvetun tunnel` (local client → curvetun).
 *
 * Half-close is carried through: a FIN from the TCP side ends the tunnel's writable side (v2: an
 * END; the reply still flows back), and the end of the tunnel's readable side (the peer's END)
 * becomes a FIN to the TCP side. The TCP sockets must be made with `allowHalfOpen: true` for
 * this. Over v1, whose end is the connection's close, an end either way closes both.
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

/** After one side has closed (or failed), how long the other gets to finish, ms. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Pipe `tcp` and `tunnel` into each other (with backpressure both ways, and half-close), until
 * both have closed; when one closes or fails, the other is ended and, after a short grace, torn
 * down. Resolves once, with the byte counts and how it ended.
 */
export function forward(tcp: TcpSocket, tunnel: Duplex): Promise<ForwardStats> {
  const stats: ForwardStats = { tcpToTunnel: 0, tunnelToTcp: 0, end: 'closed', first: 'tcp' };
  return new Promise((resolve) => {
    let firstKnown = false;
    const first = (side: ForwardStats['first']) => {
      if (firstKnown) return;
      firstKnown = true;
      stats.first = side;
    };
    let timer: NodeJS.Timeout | undefined;
    const windDown = () => {
      if (timer) return;
      tcp.end();
      tunnel.end();
      // Bounded: whatever is still flushing gets a short grace, then both are torn down.
      timer = setTimeout(() => {
        tcp.destroy();
        tunnel.destroy();
      }, CLOSE_GRACE_MS);
      timer.unref();
    };
    const failed = (side: ForwardStats['first'], error: Error) => {
      if (stats.end === 'closed') stats.end = (error as NodeJS.ErrnoException).code ?? error.message;
      first(side);
      windDown();
    };
    let open = 2;
    const closed = (side: ForwardStats['first']) => {
      first(side);
      windDown();
      if (--open === 0) {
        clearTimeout(timer);
        resolve(stats);
      }
    };
    tcp.on('data', (chunk: Buffer) => (stats.tcpToTunnel += chunk.length));
    tunnel.on('data', (chunk: Buffer) => (stats.tunnelToTcp += chunk.length));
    // end: true carries each side's end of data to the other (TCP FIN ↔ END).
    tcp.pipe(tunnel);
    tunnel.pipe(tcp);
    tcp.once('end', () => first('tcp'));
    tunnel.once('end', () => first('tunnel'));
    tcp.once('error', (error) => failed('tcp', error));
    tunnel.once('error', (error) => failed('tunnel', error));
    if (tcp.closed) closed('tcp');
    else tcp.once('close', () => closed('tcp'));
    if (tunnel.closed) closed('tunnel');
    else tunnel.once('close', () => closed('tunnel'));
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
