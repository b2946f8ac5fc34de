/**
 * Safe-nonce counters that never repeat, even across crashes.
 *
 * The persisted value is a reservation: every counter below it may have been handed out. Before
 * handing out a counter at or past the reservation, the store writes (atomically, fsync'd) a new
 * reservation one block further; after a restart it starts at the stored reservation. A crash
 * therefore skips at most one block and never reuses a counter.
 */
import { readFileSync } from 'node:fs';
import { CurvetunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';

export const DEFAULT_COUNTER_BLOCK = 1_048_576;

export interface CounterSource {
  /** The next counter: strictly greater than every counter handed out before, in any run. */
  next(): number;
}

/** In memory only: for vaults whose key lives only as long as the process. */
export class MemoryCounter implements CounterSource {
  private value = 0;
  next(): number {
    return this.value++;
  }
}

export class FileCounter implements CounterSource {
  private value: number;
  private reservedUntil: number;

  constructor(private readonly file: string, private readonly block = DEFAULT_COUNTER_BLOCK) {
    if (!Number.isSafeInteger(block) || block < 1) throw new CurvetunError('EINVAL', 'the counter block must be a positive integer');
    this.value = FileCounter.read(file);
    this.reservedUntil = this.value;
  }

  /** The stored reservation (0 when there is no file yet). */
  static read(file: string): number {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new CurvetunError('EIO', `cannot read the nonce counter file ${file}: ${(error as NodeJS.ErrnoException).code}`);
    }
    const trimmed = text.trim();
    if (!/^\d{1,16}$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
      // Never guess: a counter we cannot read could make us reuse nonces.
      throw new CurvetunError('EIO', `the nonce counter file ${file} is corrupt; refusing to start`);
    }
    return Number(trimmed);
  }

  next(): number {
    if (this.value >= this.reservedUntil) {
      const reservation = this.value + this.block;
      writeFileAtomic(this.file, `${reservation}\n`, 0o600);
      this.reservedUntil = reservation;
    }
    return this.value++;
  }
}
