/** What crosses between an actor's worker and its owner: requests, replies, and errors as data. */
import { CurvetunError } from '../errors.js';
import type { ErrorCode } from '../errors.js';

export interface Request {
  id: number;
  method: string;
  args: unknown;
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorData };

export type Lifecycle = { type: 'ready' } | { type: 'init-error'; error: ErrorData };

/** Unasked news from the worker to its owner (e.g. the registry reloaded its file). */
export interface Notice {
  type: 'notice';
  event: string;
  data: unknown;
}

export interface ErrorData {
  code: ErrorCode;
  message: string;
}

/**
 * Only our own typed errors keep their message across the thread; anything else becomes a generic
 * `EACTOR` so that an unexpected exception can never carry internals (or key bytes) out.
 */
export function errorToData(error: unknown, where: string): ErrorData {
  if (error instanceof CurvetunError) return { code: error.code, message: error.message };
  return { code: 'EACTOR', message: `unexpected failure in ${where}` };
}

export function errorFromData(data: ErrorData): CurvetunError {
  return new CurvetunError(data.code, data.message);
}
