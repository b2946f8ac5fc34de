/**
 * Refusals: the reason a REFUSE frame carries, the typed error the opener gets for it, and the
 * reason an accepting side gives for a failed connection attempt. One table each way.
 */
import { CurvetunError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ChannelTarget } from './frames.js';
import type { RefuseReason } from './layout.js';

/** The error code an opener sees for each reason. */
const CODE_OF_REASON: Record<RefuseReason, ErrorCode> = {
  'not-allowed': 'EDENIED',
  'connection-refused': 'ECLOSED',
  'timed-out': 'ETIMEDOUT',
  'too-many-channels': 'EBUSY',
  unreachable: 'ECLOSED',
  failed: 'ECLOSED',
};

const WORDS: Record<RefuseReason, string> = {
  'not-allowed': 'the target is not on its allow-list',
  'connection-refused': 'the target refused the connection',
  'timed-out': 'the connection attempt timed out',
  'too-many-channels': 'it has too many channels open',
  unreachable: 'the target could not be reached (no address, no route)',
  failed: 'the connection attempt failed',
};

/** The far side refused to open a channel; `reason` says why, `code` follows it. */
export class ChannelRefusedError extends CurvetunError {
  constructor(
    readonly reason: RefuseReason,
    target: ChannelTarget,
  ) {
    super(CODE_OF_REASON[reason], `channel to ${target.host}:${target.port} refused (${reason}): ${WORDS[reason]}`);
    this.name = 'ChannelRefusedError';
  }
}

/** Node's and our error codes that name a refusal reason; any other is `failed`. */
const REASON_OF_CODE: Record<string, RefuseReason> = {
  EDENIED: 'not-allowed',
  ECONNREFUSED: 'connection-refused',
  ETIMEDOUT: 'timed-out',
  EBUSY: 'too-many-channels',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EAI_NODATA: 'unreachable',
  EAI_NONAME: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
};

/**
 * Why a connection attempt to a target failed, as a refusal reason: from the error's code, else
 * from its cause's (a resolver failure arrives wrapped, with Node's ENOTFOUND as cause).
 */
export function refuseReasonOf(error: unknown): RefuseReason {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 3; e = e.cause as typeof e, depth++) {
    const reason = typeof e.code === 'string' ? REASON_OF_CODE[e.code] : undefined;
    if (reason) return reason;
  }
  return 'failed';
}
