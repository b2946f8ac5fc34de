/**
 * Safe-nonce counters that never repeat, even across crashes and across processes sharing a key.
 *
 * The persisted value is a reservation: every counter below it may have been handed out. Before
 * handing out a counter at or past its block, a store takes the file's lock, reads the stored
 * reservation, claims the block that starts there (or at its own position, if higher), writes the
 * new reservation atomically (fsync'd) and only then hands out counters from the block. A crash
 * therefore skips at most one block and never reuses a counter; two processes on the same key
 * file get disjoint blocks.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';

export const DEFAULT_COUNTER_BLOCK = 1_048_576;

/** A lock older than this is left over from a crash (a reservation takes one fsync'd write). */
const STALE_LOCK_MS = 5_000;
/** Give up on the lock after this long; bounded even if the clock or the file system misbehaves. */
const LOCK_WAIT_MS = 15_000;
const LOCK_POLL_MS = 5;

export interface CounterSource {
  /** The next counter: strictly greater than every counter this source handed out before, and never one any other source on the same file handed out. */
  next(): number;
}

/** In memory only: for vaults whose key lives only as long as the process. */
export class MemoryCounter implements CounterSource {
  private value = 0;
  next(): number {
    return this.value++;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockAge(lock: string): number | null {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return null; // gone meanwhile
  }
}

/**
 * Run `fn` holding `<file>.lock` (created exclusively). Synchronous on purpose: the section is one
 * small fsync'd write, and a vault serves one request at a time anyway.
 */
function withFileLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new CurvetunError('EIO', `cannot lock the nonce counter ${file}: ${code}`);
      const age = lockAge(lock);
      if (age !== null && age > STALE_LOCK_MS) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new CurvetunError('EIO', `the nonce counter ${file} stays locked by ${lock}; remove it if no curvetun process uses this key`);
      else sleepSync(LOCK_POLL_MS);
    }
  }
  try {
    writeSync(fd, `${process.pid} ${threadId}\n`); // for whoever wonders who holds it
    return fn();
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}

export class FileCounter implements CounterSource {
  private value: number;
  private reservedUntil: number;

  constructor(private readonly file: string, private readonly block = DEFAULT_COUNTER_BLOCK) {
    if (!Number.isSafeInteger(block) || block < 1) throw new CurvetunError('EINVAL', 'the counter block must be a positive integer');
    // Read now so that a corrupt file stops the vault at open, not at its first handshake.
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
    if (this.value >= this.reservedUntil) this.reserve();
    return this.value++;
  }

  /** Claim the next block: above what is on disk (others may have claimed blocks) and above our own position. */
  private reserve(): void {
    withFileLock(this.file, () => {
      const start = Math.max(this.value, FileCounter.read(this.file));
      const reservation = start + this.block;
      if (!Number.isSafeInteger(reservation)) throw new CurvetunError('EIO', `the nonce counter ${this.file} is exhausted`);
      writeFileAtomic(this.file, `${reservation}\n`, 0o600);
      this.value = start;
      this.reservedUntil = reservation;
    });
  }
}
