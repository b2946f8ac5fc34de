/** The CurvetunError that `fn` throws synchronously (a session refusing a frame); anything else fails the test. */
import { CurvetunError } from '../../lib/errors.js';

export function refusal(fn: () => unknown): CurvetunError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CurvetunError) return error;
    throw error;
  }
  throw new Error('expected a refusal, the call succeeded');
}
