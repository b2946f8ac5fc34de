/**
 * Work this thread's event loop still has to do. An actor worker that serves a lane sleeps in
 * `Atomics.wait`, which holds up its event loop (lib/runtime/lane.ts); while any promise passed
 * through `keepAwake` is unsettled — a handler that returned a promise, a counter reservation
 * writing its file — it only dozes (1 ms at a time), so that work's I/O callbacks run promptly.
 */
let pending = 0;

/** `promise`, counted as pending work of this thread until it settles. */
export function keepAwake<T>(promise: Promise<T>): Promise<T> {
  pending++;
  return promise.finally(() => {
    pending--;
  });
}

/** How many `keepAwake` promises are unsettled on this thread. */
export function pendingWork(): number {
  return pending;
}
