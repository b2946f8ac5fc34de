/**
 * Reconnection delays: exponential backoff with jitter, so that agents that lost their gateway
 * at the same moment do not all come back at the same moment. "Equal jitter" as described in
 * AWS's Architecture Blog, "Exponential Backoff and Jitter" (2015): half of the exponential
 * ceiling is kept, the other half is random, so a delay never collapses to zero and still
 * spreads out.
 */
import { CurvetunError } from '../errors.js';

export interface BackoffOptions {
  /** The first delay's ceiling, ms (default 500). */
  initialMs?: number;
  /** The largest delay, ms (default 30 000). */
  maxMs?: number;
  /** How long a connection must have stayed up for the next loss to start again from the first delay, ms (default 10 000). */
  stableMs?: number;
}

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000, stableMs: 10_000 } as const;

export type Backoff = Required<BackoffOptions>;

/** The options with defaults for what they leave out; `EINVAL` for a bad value. */
export function checkedBackoff(options: BackoffOptions = {}): Backoff {
  const out = { ...DEFAULT_BACKOFF, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Backoff;
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isFinite(value) || value <= 0) throw new CurvetunError('EINVAL', `backoff ${name} must be a positive number of ms`);
  }
  if (out.maxMs < out.initialMs) throw new CurvetunError('EINVAL', 'backoff maxMs must be at least initialMs');
  return out;
}

/**
 * The delay before reconnection attempt `attempt` (0 for the first after a loss):
 * ceiling = min(maxMs, initialMs · 2^attempt); delay = ceiling/2 + random · ceiling/2.
 * @example backoffDelay(3, checkedBackoff()) // between 2 000 and 4 000 ms
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 52));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
