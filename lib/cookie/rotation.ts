/** The rotation timer shared by the worker and the in-process keeper. */
import type { CookieCore } from './core.js';

/**
 * Tick the core at every period boundary so an old key is wiped on time even when no handshake
 * comes (seal/open tick too, so a late timer never lets a key live longer). Re-armed from the
 * core's own clock each time, so timer drift does not add up. Returns a stop function.
 */
export function keepRotating(core: CookieCore): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      core.tick();
      arm();
    }, core.msUntilRotation() + 1);
    timer.unref(); // a keeper alone never keeps a process alive
  };
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
