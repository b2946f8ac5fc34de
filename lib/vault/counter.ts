/**
 * Safe-nonce counters that never repeat, even across crashes and across processes sharing a key.
 *
 * The persisted value is a reservation: every counter below it may have been handed out. Before
 * handing out a counter from a new block, a store takes the file's lock (counter-lock.ts), reads
 * the stored reservation, claims the block that starts there (or at its own position, if higher),
 * writes the new reservation atomically (fsync'd) and only then hands out counters from the block.
 * A crash therefore skips at most two blocks (the one in use and the one reserved ahead) and never
 * reuses a counter; two processes on the same key file get disjoint blocks.
 *
 * Nothing here blocks the event loop: the lock is waited for and the file written asynchronously,
 * and the next block is reserved in the background once half of the current one is used, so a
 * handshake waits for the disk only when the background reservation could not keep up.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CurvetunError } from '../errors.js';
import { writeFileAtomicAsync } from '../fs/atomic.js';
import { keepAwake } from '../runtime/awake.js';
import { withCounterLock } from './counter-lock.js';

export const DEFAULT_COUNTER_BLOCK = 1_048_576;

export interface CounterSource {
  /**
   * The next counter: strictly greater than every counter this source handed out before, and never
   * one any other source on the same file handed out. A number when one is at hand, a promise when
   * a reservation must be written first.
   */
  next(): number | Promise<number>;
}

/** In memory only: for vaults whose key lives only as long as the process. */
export class MemoryCounter implements CounterSource {
  private value = 0;
  next(): number {
    return this.value++;
  }
}

function parseReservation(text: string, file: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,16}$/.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    // Never guess: a counter we cannot read could make us reuse nonces.
    throw new CurvetunError('EIO', `the nonce counter file ${file} is corrupt; refusing to start`);
  }
  return Number(trimmed);
}

/** No file yet is 0; any other failure (or a corrupt file) is EIO. */
function unreadable(error: unknown, file: string): number {
  if (error instanceof CurvetunError) throw error;
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
  throw new CurvetunError('EIO', `cannot read the nonce counter file ${file}: ${(error as NodeJS.ErrnoException).code}`, { cause: error });
}

interface Block {
  start: number;
  end: number;
}

export class FileCounter implements CounterSource {
  private value: number;
  private reservedUntil: number;
  /** A block reserved ahead of need, to switch to when the current one is used up. */
  private ahead: Block | null = null;
  private reserving: Promise<void> | null = null;

  constructor(private readonly file: string, private readonly block = DEFAULT_COUNTER_BLOCK) {
    if (!Number.isSafeInteger(block) || block < 1) throw new CurvetunError('EINVAL', 'the counter block must be a positive integer');
    // Read now so that a corrupt file stops the vault at open, not at its first handshake.
    this.value = FileCounter.read(file);
    this.reservedUntil = this.value;
  }

  /** The stored reservation (0 when there is no file yet). */
  static read(file: string): number {
    try {
      return parseReservation(readFileSync(file, 'utf8'), file);
    } catch (error) {
      return unreadable(error, file);
    }
  }

  /** The same without blocking: read inside the lock. */
  private static async readAsync(file: string): Promise<number> {
    try {
      return parseReservation(await readFile(file, 'utf8'), file);
    } catch (error) {
      return unreadable(error, file);
    }
  }

  /** Reserve the first block now (e.g. while a vault opens), so the first handshake need not wait. */
  async ready(): Promise<void> {
    if (this.value >= this.reservedUntil && !this.ahead) await this.reserve();
  }

  next(): number | Promise<number> {
    return this.value < this.reservedUntil ? this.take() : this.nextAfterReservation();
  }

  private take(): number {
    const counter = this.value++;
    if (!this.ahead && !this.reserving && this.reservedUntil - this.value <= this.block / 2) {
      this.reserve().catch(() => undefined); // a failure here is met again by whoever needs the block
    }
    return counter;
  }

  private async nextAfterReservation(): Promise<number> {
    for (;;) {
      if (this.value < this.reservedUntil) return this.take();
      if (this.ahead) {
        [this.value, this.reservedUntil] = [this.ahead.start, this.ahead.end];
        this.ahead = null;
        continue;
      }
      await this.reserve();
    }
  }

  /** One reservation at a time; its block becomes the current one if that is used up, else the one ahead. */
  private reserve(): Promise<void> {
    // keepAwake: an actor worker serving its lane must not sleep through this I/O.
    this.reserving ??= keepAwake(this.claimBlock())
      .then((block) => {
        if (this.value >= this.reservedUntil) [this.value, this.reservedUntil] = [block.start, block.end];
        else this.ahead = block;
      })
      .finally(() => {
        this.reserving = null;
      });
    return this.reserving;
  }

  /** Claim the next block: above what is on disk (others may have claimed blocks) and above all of ours. */
  private claimBlock(): Promise<Block> {
    return withCounterLock(this.file, async () => {
      const start = Math.max(this.reservedUntil, this.value, await FileCounter.readAsync(this.file));
      const end = start + this.block;
      if (!Number.isSafeInteger(end)) throw new CurvetunError('EIO', `the nonce counter ${this.file} is exhausted`);
      await writeFileAtomicAsync(this.file, `${end}\n`, 0o600);
      return { start, end };
    });
  }
}
