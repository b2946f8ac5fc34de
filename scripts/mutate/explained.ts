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
  reason: string;
}

export const EXPLAINED: Explained[] = [
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
];
