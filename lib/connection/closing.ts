/**
 * The close paths of a connection, as decisions the socket carries out: how TCP ends once the
 * machine has closed (FIN and a bounded drain, a reset, or destroy), and what a TCP end or error
 * from the peer means. Pure functions of what the socket knows, so each rule is in one place.
 */
import type { CurvetunError } from '../errors.js';
import { RejectedError } from '../errors.js';
import type { Protocol } from './data-session.js';
import type { LifecycleStateName } from './lifecycle-names.js';
import { peerClosedReason, tcpFailedReason } from './peer-closed.js';
import type { WhereWeWere } from './peer-closed.js';
import { isPeerClose, truncatedReason } from './session-end.js';

/**
 * - `released`: TCP is already gone;
 * - `destroy`: at once (`destroy()`, a truncation, a failure in the handshake);
 * - `fin`: flush what was sent, FIN, and wait (bounded) for the peer's FIN — destroying with
 *   unread data could reset the connection and discard our last frames (a CLOSE, a REJECT). For
 *   a clean close, the peer's CLOSE (a failure code too), and a failure we sent a CLOSE for;
 * - `reset`: a v1 refusal is a reset, never FIN (what closing an accepted one sends): peer-closed.ts.
 */
export type TcpExit = 'released' | 'destroy' | 'fin' | 'reset';

export interface ClosingFacts {
  role: 'client' | 'server';
  /** The state the machine left for `closed`. */
  left: LifecycleStateName;
  /** The version a server heard in the Hello, if the handshake got that far. */
  heard: Protocol | undefined;
  tcpDestroyed: boolean;
  /** `destroy()` was called: no flush, no FIN. */
  destroying: boolean;
  /** A CLOSE for a failure was just queued (session-end.ts, failureCloseFor). */
  failureCloseSent: boolean;
}

export function tcpExit(reason: CurvetunError, at: ClosingFacts): TcpExit {
  if (at.tcpDestroyed) return 'released';
  if (at.destroying) return 'destroy';
  if (at.left === 'connected' && (reason.code === 'ECLOSED' || at.failureCloseSent || isPeerClose(reason))) return 'fin';
  if (reason instanceof RejectedError && at.role === 'server') return 'fin'; // a v2 REJECT just queued
  if (at.left === 'accepting' && at.heard === 'v1') return 'reset';
  return 'destroy';
}

/** The peer's TCP ended (FIN, or closed): over v2 without its END or CLOSE a truncation, else a close. */
export function peerTcpEnd(truncation: boolean, at: WhereWeWere): { event: 'CLOSE' | 'FAIL'; reason: CurvetunError } {
  return truncation ? { event: 'FAIL', reason: truncatedReason() } : { event: 'CLOSE', reason: peerClosedReason(at) };
}

/** TCP failed (a reset, a write error): over v2 without the peer's END or CLOSE a truncation too. */
export function peerTcpError(truncation: boolean, at: WhereWeWere, err: NodeJS.ErrnoException): CurvetunError {
  return truncation ? truncatedReason(err) : tcpFailedReason(at, err);
}
