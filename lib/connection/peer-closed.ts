/**
 * What a TCP close (FIN or reset) from the peer means, by where the connection was: in v1 a
 * guess (the protocol never confirms), in v2 a handshake failure before READY (`EHANDSHAKE`: the
 * server does not say why to a client whose vouch it has not verified).
 */
import { CurvetunError, withSystemFields } from '../errors.js';
import type { Protocol } from './data-session.js';
import { reasonError } from './lifecycle.js';
import type { LifecycleStateName } from './lifecycle-names.js';

export interface WhereWeWere {
  role: 'client' | 'server';
  /** The version a client set out to speak (undefined on a server until its Hello). */
  protocol: Protocol | undefined;
  state: LifecycleStateName;
  /** Whether any message came from the peer since the handshake. */
  receivedAny: boolean;
}

/**
 * The close reason for a peer's close; `detail` (e.g. a socket error code) is appended, `cause`
 * (Node's error, for a reset) kept as the cause with its errno/syscall/address/port.
 */
export function peerClosedReason(at: WhereWeWere, detail = '', cause?: NodeJS.ErrnoException): CurvetunError {
  if (at.role === 'client' && at.protocol === 'v2' && at.state === 'initiating') {
    const message = `the server closed the connection during the handshake (it may not accept this client or this version)${detail}`;
    return cause ? withSystemFields(new CurvetunError('EHANDSHAKE', message, { cause }), cause) : new CurvetunError('EHANDSHAKE', message);
  }
  return reasonError('ECLOSED', `${peerClosedMessage(at)}${detail}`, cause);
}

/**
 * The close reason for a TCP error: a reset right after our Vouch is how a refusing v1 server
 * usually looks from here; before a v2 server's READY it is a failed handshake. Node's error is
 * the cause either way.
 */
export function tcpFailedReason(at: WhereWeWere, err: NodeJS.ErrnoException): CurvetunError {
  const code = err.code ?? 'socket error';
  const refused = at.role === 'client' && ((at.state === 'connected' && !at.receivedAny) || (at.protocol === 'v2' && at.state === 'initiating'));
  return refused ? peerClosedReason(at, ` (${code})`, err) : reasonError('ECLOSED', `connection error: ${code}`, err);
}

export function peerClosedMessage(at: WhereWeWere): string {
  const connected = at.state === 'connected';
  if (at.role === 'client' && !at.receivedAny && connected) {
    return 'the server closed the connection right after the handshake (it may have refused our key)';
  }
  return connected ? 'the peer closed the connection' : 'the peer closed the connection during the handshake';
}
