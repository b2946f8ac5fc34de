/**
 * How a v2 session ends (PROTOCOL.md, "END and CLOSE"), as close reasons: both sides sent END,
 * the peer sent CLOSE (its code and reason reach us as `peerCode` / `peerReason`; a failure code
 * as the failure it names), or TCP ended without either (`ETRUNCATED`: what arrived may be
 * incomplete, whoever cut it); and the one place that maps our failures to the CLOSE we send.
 */
import { CurvetunError, withSystemFields } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { CloseCode, FAILURE_CLOSE, V2_CLOSE_REASON_MAX_BYTES, isFailureCloseCode } from '../protocol/v2/index.js';
import { reasonError } from './lifecycle.js';

/** How a failure code of 1–999 that FAILURE_CLOSE does not list (a later version's) is reported. */
const UNKNOWN_FAILURE: { error: ErrorCode; says: string } = { error: 'EPROTO', says: 'it found a failure this version does not name' };

/**
 * The close reason when the peer sent CLOSE: for code 0 or an application's code a clean close
 * (`ECLOSED`); for one of curvetun's failure codes (1–999, FAILURE_CLOSE) the failure the peer
 * found, as the error code it maps to (`EPROTO`, `ETOOBIG`, `EAUTH`, `ETIMEDOUT`; `EPROTO` for a
 * code of 1–999 this version does not know), so it is never taken for an end. Either way it
 * carries the CLOSE's code and reason.
 */
export interface PeerCloseError extends CurvetunError {
  /** The peer's CLOSE code (0 = a plain close; 1–999 curvetun's failure codes; 1000 and up the application's). */
  readonly peerCode: number;
  /** The peer's CLOSE reason (UTF-8 text, at most 256 bytes; may be empty). */
  readonly peerReason: string;
}

/** `known`: what we know of the close besides the CLOSE itself (see peer-closed.ts). */
export function peerCloseReason(code: number, reason: string, known = 'the peer closed the connection'): PeerCloseError {
  const text = reason === '' ? `code ${code}` : `code ${code}: ${reason}`;
  // A failure code this version does not know (a later version's) is still a failure: fail safe,
  // never read what the peer called a failure as a clean end.
  const failure = FAILURE_CLOSE.get(code) ?? (isFailureCloseCode(code) ? UNKNOWN_FAILURE : undefined);
  const error = (failure ? withoutStack(() => new CurvetunError(failure.error, `${known}: ${failure.says} (CLOSE ${text})`)) : reasonError('ECLOSED', `${known} (CLOSE ${text})`)) as CurvetunError & { peerCode: number; peerReason: string };
  error.peerCode = code;
  error.peerReason = reason;
  return error as PeerCloseError;
}

/** Whether `reason` is the peer's CLOSE (then it is never answered with one). */
export function isPeerClose(reason: CurvetunError): reason is PeerCloseError {
  return typeof (reason as Partial<PeerCloseError>).peerCode === 'number';
}

/** Reasons that are a revocation (revocation.ts): EAUTH like a frame that did not open, told apart here. */
const revocations = new WeakSet<CurvetunError>();

/** The close reason when a registry reload no longer allows an open connection's key. */
export function revokedReason(verdict: string): CurvetunError {
  const error = new CurvetunError('EAUTH', `closed on registry reload: ${verdict}`);
  revocations.add(error);
  return error;
}

/**
 * The CLOSE a v2 connection sends before ending TCP when it closes for a failure it found, or
 * null. Sent for every failure of the peer's (a protocol violation, a message past our limit, a
 * frame that did not authenticate), a revoked key and our idle timeout: our sending direction has
 * its own key and counter, so a CLOSE under it leaks nothing, and the peer learns why instead of
 * seeing a truncation — as TLS sends an alert on bad_record_mac (RFC 8446 §6.2). Not for a
 * truncation (the peer's TCP end: nobody reads), nor in answer to the peer's own CLOSE. The
 * reason says what was wrong in what the peer sent, never what our registry says.
 */
export function failureCloseFor(reason: CurvetunError): { code: number; reason: string } | null {
  if (isPeerClose(reason)) return null;
  if (revocations.has(reason)) return { code: CloseCode.revoked, reason: 'this key is no longer allowed' };
  switch (reason.code) {
    case 'EPROTO':
      return { code: CloseCode.protocolViolation, reason: clip(reason.message) };
    case 'ETOOBIG':
      return { code: CloseCode.tooBig, reason: clip(reason.message) };
    case 'ETIMEDOUT':
      return { code: CloseCode.idleTimeout, reason: clip(reason.message) };
    case 'EAUTH':
      return { code: CloseCode.notAuthentic, reason: 'a message did not authenticate' };
    default:
      return null;
  }
}

/** `text` cut to what a CLOSE carries (256 bytes of UTF-8), on a character boundary. */
function clip(text: string): string {
  // Whole code points (for…of never splits a surrogate pair), as many as fit.
  let out = '';
  let bytes = 0;
  for (const character of text) {
    bytes += Buffer.byteLength(character, 'utf8');
    if (bytes > V2_CLOSE_REASON_MAX_BYTES) break;
    out += character;
  }
  return out;
}

function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const bothEndedReason = () => reasonError('ECLOSED', 'both sides ended the connection (END each way)');

/** What `recv` answers once the peer's END has arrived and every message before it was taken. */
export const endOfMessagesReason = () => reasonError('ECLOSED', 'the peer has ended its messages (END)');

/** TCP ended (FIN or reset) without the peer's END or CLOSE, or cut off a fragmented message. */
export function truncatedReason(cause?: NodeJS.ErrnoException): CurvetunError {
  const how = cause ? `the connection failed (${cause.code ?? 'socket error'})` : 'TCP ended';
  const error = withoutStack(() => new CurvetunError('ETRUNCATED', `${how} without the peer's END or CLOSE: what arrived may be incomplete`, cause ? { cause } : undefined));
  return cause ? withSystemFields(error, cause) : error;
}
