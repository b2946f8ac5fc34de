/**
 * Typed errors. Every failure curvetun reports carries a stable `code`, so callers can branch on it
 * without parsing messages. Messages say what went wrong and never include key material.
 */

export type ErrorCode =
  /** A packet or frame did not decode, or broke a protocol rule. */
  | 'EPROTO'
  /** A box did not open, a key was not allowed, a cookie was reused, or a peer was not who it claimed. */
  | 'EAUTH'
  /** A deadline passed (handshake, recv, accept, an actor call). */
  | 'ETIMEDOUT'
  /** The connection, listener or actor is closed. */
  | 'ECLOSED'
  /** The caller's AbortSignal fired. */
  | 'EABORTED'
  /** A message is larger than one packet can carry (65 503 bytes). */
  | 'ETOOBIG'
  /** A key or key file is missing, malformed, or has unsafe permissions. */
  | 'EKEY'
  /** An argument had the wrong type or size. */
  | 'EINVAL'
  /** A bounded resource is full (pending handshakes, the replay guard): refused rather than forgotten. */
  | 'EBUSY'
  /** An actor (worker) crashed or its supervisor gave up. */
  | 'EACTOR'
  /** An address is not on the allowed list. */
  | 'EDENIED'
  /** Something failed on disk (counter file, registry file). */
  | 'EIO';

export class CurvetunError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CurvetunError';
  }
}

/** A packet or frame that does not decode. Always `code: 'EPROTO'`. */
export class ProtocolError extends CurvetunError {
  constructor(message: string) {
    super('EPROTO', message);
    this.name = 'ProtocolError';
  }
}

export function isCurvetunError(value: unknown): value is CurvetunError {
  return value instanceof CurvetunError;
}
