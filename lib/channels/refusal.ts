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

/**
 * Why a connection attempt to a target failed, as a refusal reason: our own `EDENIED` (the
 * allow-list), `ETIMEDOUT` and `EBUSY`, and Node's socket and resolver error codes.
 */
export function refuseReasonOf(error: unknown): RefuseReason {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'EDENIED':
      return 'not-allowed';
    case 'ECONNREFUSED':
      return 'connection-refused';
    case 'ETIMEDOUT':
      return 'timed-out';
    case 'EBUSY':
      return 'too-many-channels';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
    case 'EAI_NONAME':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    default:
      return 'failed';
  }
}
