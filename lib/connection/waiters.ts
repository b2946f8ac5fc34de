/**
 * Callers waiting for the next value (a message, a connection), served in the order they called,
 * each with an optional deadline and AbortSignal. Shared by `socket.recv()` and `listener.accept()`.
 */
import { CurvetunError, abortedError } from '../errors.js';

export interface WaitOptions {
  /** Give up after this many milliseconds with `ETIMEDOUT`. */
  timeout?: number;
  /** Give up when this signal aborts, with `EABORTED` (the signal's reason as `cause`). */
  signal?: AbortSignal;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: CurvetunError): void;
  cleanup(): void;
}

export class WaiterQueue<T> {
  private readonly waiters: Waiter<T>[] = [];

  /** `what` names the operation in error messages ("recv", "accept"). */
  constructor(private readonly what: string) {}

  /** Callers waiting now. */
  get size(): number {
    return this.waiters.length;
  }

  wait(options: WaitOptions = {}): Promise<T> {
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(abortedError(this.what, signal));
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => giveUp(abortedError(this.what, signal!));
      const waiter: Waiter<T> = {
        resolve,
        reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      const giveUp = (error: CurvetunError) => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        waiter.cleanup();
        reject(error);
      };
      if (timeout !== undefined) {
        timer = setTimeout(() => giveUp(new CurvetunError('ETIMEDOUT', `${this.what}: nothing within ${timeout} ms`)), timeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Hand `value` to the longest-waiting caller; false when nobody waits. */
  resolveNext(value: T): boolean {
    const waiter = this.waiters.shift();
    if (!waiter) return false;
    waiter.cleanup();
    waiter.resolve(value);
    return true;
  }

  /** Fail every waiting caller with `error`. */
  rejectAll(error: CurvetunError): void {
    for (const waiter of this.waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(error);
    }
  }
}
