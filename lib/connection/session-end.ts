/**
 * How a v2 session ends (PROTOCOL.md, "v2 end and close"), as close reasons: both sides sent END,
 * the peer sent CLOSE (its code and reason reach us as `peerCode` / `peerReason`), or TCP ended
 * without either (`ETRUNCATED`: what arrived may be incomplete, whoever cut it).
 */
import { CurvetunError, withSystemFields } from '../errors.js';
import { reasonError } from './lifecycle.js';

/** The close reason when the peer sent CLOSE: a clean close carrying its code and reason. */
export interface PeerCloseError extends CurvetunError {
  readonly code: 'ECLOSED';
  /** The peer's CLOSE code (0 = a plain close). */
  readonly peerCode: number;
  /** The peer's CLOSE reason (UTF-8 text, at most 256 bytes; may be empty). */
  readonly peerReason: string;
}

/** `known`: what we know of the close besides the CLOSE itself (see peer-closed.ts). */
export function peerCloseReason(code: number, reason: string, known = 'the peer closed the connection'): PeerCloseError {
  const text = reason === '' ? `code ${code}` : `code ${code}: ${reason}`;
  const error = reasonError('ECLOSED', `${known} (CLOSE ${text})`) as CurvetunError & { peerCode: number; peerReason: string };
  error.peerCode = code;
  error.peerReason = reason;
  return error as PeerCloseError;
}

export const bothEndedReason = () => reasonError('ECLOSED', 'both sides ended the connection (END each way)');

/** What `recv` answers once the peer's END has arrived and every message before it was taken. */
export const endOfMessagesReason = () => reasonError('ECLOSED', 'the peer has ended its messages (END)');

/** TCP ended (FIN or reset) without the peer's END or CLOSE, or cut off a fragmented message. */
export function truncatedReason(cause?: NodeJS.ErrnoException): CurvetunError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const how = cause ? `the connection failed (${cause.code ?? 'socket error'})` : 'TCP ended';
    const error = new CurvetunError('ETRUNCATED', `${how} without the peer's END or CLOSE: what arrived may be incomplete`, cause ? { cause } : undefined);
    return cause ? withSystemFields(error, cause) : error;
  } finally {
    Error.stackTraceLimit = limit;
  }
}
