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
  /** Nothing accepts connections at that address and port (Node's name; the Node error is `cause`). */
  | 'ECONNREFUSED'
  /** The address and port to listen on are in use (Node's name; the Node error is `cause`). */
  | 'EADDRINUSE'
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
  // As on Node's own error, when one caused this one (then also `cause`). `declare`: absent, not
  // undefined, when there is none (as Node leaves them off), so inspect and JSON show only what is set.
  declare errno?: number;
  declare syscall?: string;
  declare address?: string;
  declare port?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CurvetunError';
  }
}

/** The fields of a Node system error that curvetun copies onto its own (as Node sets them). */
const SYSTEM_FIELDS = ['errno', 'syscall', 'address', 'port'] as const;

/**
 * A CurvetunError for a failure Node reported: `cause` is Node's error, and its `errno`,
 * `syscall`, `address` and `port` are copied, so code written for Node's errors keeps working.
 * `ECONNREFUSED` and `EADDRINUSE` keep Node's code; anything else gets `fallback`.
 * @example systemError('ECLOSED', 'cannot connect to db:5432', err) // err.code 'ECONNREFUSED' → code 'ECONNREFUSED'
 */
export function systemError(fallback: ErrorCode, message: string, cause: unknown): CurvetunError {
  const nodeCode = (cause as NodeJS.ErrnoException | null)?.code;
  const code: ErrorCode = nodeCode === 'ECONNREFUSED' || nodeCode === 'EADDRINUSE' ? nodeCode : fallback;
  return withSystemFields(new CurvetunError(code, message, { cause }), cause);
}

/** Copy `errno`, `syscall`, `address`, `port` from Node's error `cause` onto `error`; returns `error`. */
export function withSystemFields(error: CurvetunError, cause: unknown): CurvetunError {
  if (typeof cause === 'object' && cause !== null) {
    for (const field of SYSTEM_FIELDS) {
      const value = (cause as Record<string, unknown>)[field];
      if (value !== undefined) (error as unknown as Record<string, unknown>)[field] = value;
    }
  }
  return error;
}

/** `EABORTED` for an AbortSignal that fired, with the signal's reason as `cause`. */
export function abortedError(what: string, signal: AbortSignal): CurvetunError {
  return new CurvetunError('EABORTED', `${what} aborted`, { cause: signal.reason });
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
