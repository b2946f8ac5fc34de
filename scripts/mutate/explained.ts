/**
 * Survivors of `npm run mutate` that no test can kill, each with the reason. A survivor matches an
 * entry by file, mutator, the original code it replaced and its replacement (not by line: lines
 * move). Add an entry only with a reason a reviewer can check; anything else gets a test.
 */
export interface Explained {
  file: string;
  mutator: string;
  /** The original code of the mutated range, exactly as in the source. */
  original: string;
  replacement: string;
  /** Text the mutant's source line must hold, where `original` is too common to name one place. */
  onLine?: string;
  reason: string;
}

export const EXPLAINED: Explained[] = [
  // lib/connection/handshake-feed.ts
  {
    file: 'lib/connection/handshake-feed.ts',
    mutator: 'ConditionalExpression',
    original: 'label !== null',
    replacement: 'true',
    reason: 'equivalent: the socket passes a null label exactly when NODE_DEBUG tracing is off, and trace() prints nothing then; the test only spares a call per stage (the opposite mutant, no stages when tracing, is killed by the trace test)',
  },
  // lib/connection/session-v2.ts
  {
    file: 'lib/connection/session-v2.ts',
    mutator: 'ConditionalExpression',
    original: 'rekeyAfter',
    replacement: 'true',
    reason: 'equivalent: attach() without rekeyAfter then spreads undefined into the thresholds, which adds nothing — they stay as they were',
  },
  ...(
    [
      ['ConditionalExpression', 'false'],
      ['ConditionalExpression', 'true'],
      ['EqualityOperator', 'frame.length < IN_PLACE_MIN_BYTES'],
      ['EqualityOperator', 'frame.length > IN_PLACE_MIN_BYTES'],
    ] as const
  ).map(([mutator, replacement]) => ({
    file: 'lib/connection/session-v2.ts',
    mutator,
    original: 'frame.length >= IN_PLACE_MIN_BYTES',
    replacement,
    reason:
      'performance only: the threshold picks whether a frame is opened in place or into a new buffer; both give the same plaintext, and a box that does not open is left as it was either way (the CryptoBackend contract, so the deletion look-ahead reads the same bytes)',
  })),
  {
    file: 'lib/connection/session-v2.ts',
    mutator: 'ConditionalExpression',
    original: 'this.updateDue',
    replacement: 'false',
    onLine: 'if (this.updateDue) return true;',
    reason:
      'equivalent: the flag only caches the thresholds test; until the KEY_UPDATE is written (which clears both) frames, bytes and the time since the epoch began only grow, so recomputing gives true again',
  },
  ...['const header = total >= 0', 'if (total >= 0)'].map((onLine) => ({
    file: 'lib/connection/session-v2.ts',
    mutator: 'EqualityOperator',
    original: 'total >= 0',
    replacement: 'total > 0',
    onLine,
    reason: 'equivalent: writeFrame gets total −1 (no u32) or a FRAGMENT_FIRST\'s total, which is over 65 518 — never 0',
  })),
  {
    file: 'lib/protocol/v2/schedule.ts',
    mutator: 'ConditionalExpression',
    original: 'infoSuffix.length === 0',
    replacement: 'false',
    reason: 'equivalent: the test only spares a copy — Buffer.concat([label, empty]) has the same bytes as label, so HKDF gets the same info and every key is the same',
  },
  ...(['true', 'this.#ready.length <= this.depth'] as const).map((replacement) => ({
    file: 'lib/connection/handshake-ahead.ts',
    mutator: replacement === 'true' ? 'ConditionalExpression' : 'EqualityOperator',
    original: 'this.#ready.length < this.depth',
    replacement,
    reason:
      "equivalent: the first test in a refill is always true when reached — a refill is scheduled only by take() (which has just popped, so the stock is below its depth) or by the second test (only when it is below), and nothing else adds to the stock in between",
  })),
  {
    file: 'lib/protocol/frame.ts',
    mutator: 'EqualityOperator',
    original: 'chunk.length - i >= FRAME_HEADER_BYTES',
    replacement: 'chunk.length - i > FRAME_HEADER_BYTES',
    reason:
      'equivalent: with exactly the two length bytes left, the fast path reads the length and begins the frame (no payload byte left to take); the slow path reads the same two bytes one by one and begins the same frame, so the state after the chunk is identical',
  },
  ...(['true', 'false', 'length >= 4096', 'length <= 4096'] as const).map((replacement) => ({
    file: 'lib/protocol/frame.ts',
    mutator: replacement === 'true' || replacement === 'false' ? 'ConditionalExpression' : 'EqualityOperator',
    original: 'length > 4096',
    replacement,
    reason:
      'performance only: the threshold picks how a partial frame buffer is allocated (unzeroed outside the heap for large frames, to skip a 64 KiB memset, or zeroed); every byte is written before the payload is handed out, so no output differs',
  })),
  {
    file: 'lib/keys/text.ts',
    mutator: 'EqualityOperator',
    original: 'i < a.length',
    replacement: 'i <= a.length',
    reason: 'equivalent: the extra step reads one past the end of both (equal-length) keys, undefined ^ undefined is 0, so diff is unchanged',
  },
  // lib/cookie/core.ts: the core's own size checks repeat the decoders' (same code, EINVAL).
  ...(
    [
      ['ConditionalExpression', '!(cookie instanceof Uint8Array) || cookie.length !== COOKIE_BYTES', 'false'],
      ['ConditionalExpression', 'cookie.length !== COOKIE_BYTES', 'false'],
      ['BlockStatement', "{\n      throw new CurvetunError('EINVAL', `a cookie is ${COOKIE_BYTES} bytes`);\n    }", '{}'],
      ['ConditionalExpression', '!(cookie instanceof Uint8Array) || cookie.length !== V2_COOKIE_BYTES', 'false'],
      ['ConditionalExpression', 'cookie.length !== V2_COOKIE_BYTES', 'false'],
      ['BlockStatement', "{\n      throw new CurvetunError('EINVAL', `a v2 cookie is ${V2_COOKIE_BYTES} bytes`);\n    }", '{}'],
    ] as const
  ).map(([mutator, original, replacement]) => ({
    file: 'lib/cookie/core.ts',
    mutator,
    original,
    replacement,
    reason:
      'same outcome: the decoder the core calls next makes the same check with the same code (decodeCookieValue → bytes(), decodeCookieValueV2 → requireBytes(): EINVAL for anything but a Uint8Array of 96 / 168 bytes; only the message words differ, and messages are not mutated). The one other trace: the refused call runs tick() first, as the next call would anyway (key lives are set by the clock, not by calls), so a rotation\'s follow-up sweep can fall due up to 1 ms sooner; which cookies open and which are replays is unchanged (test/cookie-core.test.ts › "a cookie of the wrong size or type is EINVAL …" passes with and without)',
  })),
  {
    file: 'lib/cookie/core.ts',
    mutator: 'ConditionalExpression',
    original: 'secrets === null',
    replacement: 'false',
    reason:
      'same outcome: sealV2(null) is still EINVAL, because { ...null, expiry } is { expiry } and encodeCookieContentsV2 refuses its missing EC (requireBytes, EINVAL); the refused call runs tick() first, with the same (sub-millisecond sweep timing only) trace as the size checks above. The typeof half is not equivalent (a function carrying the four fields would be sealed) and is killed by test/cookie-core.test.ts › "sealV2 takes only an object of secrets …"',
  },
  {
    file: 'lib/cookie/core.ts',
    mutator: 'ConditionalExpression',
    original: 'this.guard.size >= this.guardSize',
    replacement: 'true',
    reason:
      'performance only: the outer test spares an admit with room a purge() call. An unforced purge() sweeps only when a sweep is due, and the inner test (unchanged) alone decides EBUSY. With the mutant the one sweep due 1 ms after a rotation may run in an admit with room instead of in the next full admit or getStats(); any sweep from then until the next rotation (which ticks and sweeps first) drops the same entries, those of the key that died, all stale by then. So no admit, refusal, replay or getStats() value differs; only util.inspect\'s `remembered` (the guard\'s size, read without a sweep) can count dead entries a little longer without the mutant',
  },
];
