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
  | 'EIO'
  /**
   * A v2 handshake ended without the server's word: TCP closed before READY or REJECT (the server
   * may not accept this client or this version, and says why only to a client whose vouch verified),
   * or the server answered in v1.
   */
  | 'EHANDSHAKE';

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

/** Why a v2 server refused a client, as its authenticated REJECT says. */
export type RejectReasonText = 'key-not-allowed' | 'address-not-allowed' | 'version-not-allowed' | 'busy' | 'replay';

/**
 * An authenticated refusal (protocol v2's REJECT): `EBUSY` for a full server, with `retryAfterMs`,
 * `EAUTH` for the rest. `connect()` rejects with it; on the server it is the handshake's outcome.
 */
export class RejectedError extends CurvetunError {
  constructor(
    code: 'EAUTH' | 'EBUSY',
    message: string,
    readonly reason: RejectReasonText,
    /** A hint from the server (busy only): try again after this many ms. */
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
    this.name = 'RejectedError';
  }
}

export function isCurvetunError(value: unknown): value is CurvetunError {
  return value instanceof CurvetunError;
}
