/**
 * What a TCP close (FIN or reset) from the peer means, by where the connection was, saying only
 * what is known:
 *
 * - v2 before READY: a failed handshake (`EHANDSHAKE`; the server does not say why to a client
 *   whose vouch it has not verified). After READY the server had accepted us: its close says so.
 * - v1 never confirms. Our server resets a handshake it refuses and closes an accepted one with
 *   FIN (socket.ts), so "it may have refused our key" is said only for a reset that came soon
 *   after our Initiate (within the handshake deadline) with nothing ever received; any other
 *   close says how long after the handshake it came and whether anything had arrived.
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
  /** Whether any frame came from the peer since the handshake. */
  receivedAny: boolean;
  /** Application bytes received since the handshake. */
  bytesReceived: number;
  /** Time since the handshake completed, ms (0 before). */
  sinceHandshakeMs: number;
  /** How soon after our Initiate a v1 reset still reads as a refusal, ms (the handshake deadline). */
  refusalWindowMs: number;
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
 * The close reason for a TCP error: a v1 client reset soon after its Initiate, before anything
 * arrived, is how our server refuses a key; before a v2 server's READY it is a failed handshake.
 * Node's error is the cause either way.
 */
export function tcpFailedReason(at: WhereWeWere, err: NodeJS.ErrnoException): CurvetunError {
  const code = err.code ?? 'socket error';
  if (at.role === 'client' && at.protocol === 'v2' && at.state === 'initiating') return peerClosedReason(at, ` (${code})`, err);
  if (mayBeV1Refusal(at)) return reasonError('ECLOSED', `the server reset the connection right after the handshake (it may have refused our key) (${code})`, err);
  const when = at.role === 'client' && at.state === 'connected' ? `, ${afterHandshake(at)}` : '';
  return reasonError('ECLOSED', `connection error: ${code}${when}`, err);
}

/** A v1 client's connection reset soon after its Initiate, with nothing received. */
function mayBeV1Refusal(at: WhereWeWere): boolean {
  return at.role === 'client' && at.protocol !== 'v2' && at.state === 'connected' && !at.receivedAny && at.sinceHandshakeMs <= at.refusalWindowMs;
}

export function peerClosedMessage(at: WhereWeWere): string {
  if (at.state !== 'connected') return 'the peer closed the connection during the handshake';
  if (at.role === 'server') return 'the peer closed the connection';
  const accepted = at.protocol === 'v2' ? 'after accepting our key (READY)' : 'after the handshake';
  return `the server closed the connection ${formatDuration(at.sinceHandshakeMs)} ${accepted}, ${received(at)}`;
}

function afterHandshake(at: WhereWeWere): string {
  return `${formatDuration(at.sinceHandshakeMs)} after the handshake, ${received(at)}`;
}

function received(at: WhereWeWere): string {
  if (!at.receivedAny) return 'before sending anything';
  return `after sending ${at.bytesReceived} byte${at.bytesReceived === 1 ? '' : 's'} of messages`;
}

/** `12 ms`, `3.4 s`, `12 s`, `5 min 3 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
}
