/**
 * The lock around a nonce-counter reservation, shared by every process and thread that uses one key
 * file. Waiting for it never blocks the event loop, and a lock left by a dead owner is taken over
 * without any chance of two owners.
 *
 * `<counter file>.lock/` holds numbered entries; the highest number is the lock. Each entry names
 * its owner (pid, the process's start time, thread, time) and, once released, says so. To take
 * the lock when the highest entry n is released or its owner is dead, create entry n + 1 with
 * O_EXCL: of two processes racing to take over one stale entry, exactly one creates n + 1, and the
 * other then sees a live owner and waits. The new owner checks that its entry is still the highest
 * (a process working from an old listing may have created a lower one, and withdraws it when it
 * sees a higher one), then prunes the lower entries. The highest entry is never deleted, released
 * or not, so no number can be created twice while someone may still act on seeing it.
 *
 * An owner is dead when its pid does not exist, when that pid now belongs to a process started at
 * another time (pid reuse; Linux, from /proc), or when it is this very process but an earlier
 * start of it. Another thread of this process is taken for dead only once its entry is older than
 * STALE_LOCK_MS (a worker terminated in the middle of a reservation): threads of one process
 * cannot see each other's liveness, and a reservation takes milliseconds. An entry without a
 * readable owner (a crash between creating and writing it) is dead once older than that too.
 */
import { appendFile, mkdir, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';

/** An entry of this process's own threads (or unreadable) older than this is taken over. */
export const STALE_LOCK_MS = 5_000;
/**
 * Give up waiting for a live owner after this long (EIO naming it); bounded whatever happens. The
 * wait is asynchronous, so it holds up only the calls that need a new block (a handshake's own
 * deadline bounds how long its client waits); it is long so that a slow owner is not failed early.
 */
export const LOCK_WAIT_MS = 60_000;
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 100;
const RELEASED = 'released';

/** When a process started, as /proc says (clock ticks since boot), or '-' where there is no /proc. */
export function processStartTime(pid: number | 'self'): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '-';
  } catch {
    return '-';
  }
}

export const OUR_START = processStartTime('self');

type EntryState = { kind: 'released' } | { kind: 'dead' } | { kind: 'live'; pid: number | null };

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // there, but not ours to signal
  }
}

/** What an entry says, given its text and age. Also reads the one-line lock file of older versions ("pid thread"). */
export function entryState(text: string, ageMs: number): EntryState {
  const lines = text.split('\n');
  if (lines.includes(RELEASED)) return { kind: 'released' };
  const owner = /^(\d+) (\S+)(?: (\d+))?/.exec(lines[0] ?? '');
  if (!owner) return ageMs > STALE_LOCK_MS ? { kind: 'dead' } : { kind: 'live', pid: null };
  const pid = Number(owner[1]);
  const started = owner[3] === undefined ? '-' : owner[2]!; // the old format has no start time
  if (pid === process.pid) {
    if (started !== '-' && OUR_START !== '-' && started !== OUR_START) return { kind: 'dead' }; // an earlier start of ours
    return ageMs > STALE_LOCK_MS ? { kind: 'dead' } : { kind: 'live', pid };
  }
  return processLives(pid, started) ? { kind: 'live', pid } : { kind: 'dead' };
}

/**
 * Is the process `pid`, started at `started` (processStartTime's answer, '-' when unknown), still
 * running? A pid that now belongs to a process started at another time is a reuse: not it.
 */
export function processLives(pid: number, started: string): boolean {
  if (pid === process.pid) return started === '-' || OUR_START === '-' || started === OUR_START;
  if (!pidExists(pid)) return false;
  if (started === '-') return true;
  const now = processStartTime(pid);
  return now === '-' || now === started;
}

function numbered(names: string[]): number[] {
  return names.filter((n) => /^\d{1,15}$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** An entry's text and age; null when it is gone meanwhile. */
async function readEntry(file: string, path: string): Promise<{ text: string; ageMs: number } | null> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw lockError(file, error);
  }
}

function lockError(file: string, error: unknown): CurvetunError {
  return new CurvetunError('EIO', `cannot lock the nonce counter ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown'}`, { cause: error });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The numbered entries of `<file>.lock/`, made if missing; a one-line lock file an older version
 * left there is taken over when its owner is dead, and reported as the live owner otherwise.
 */
async function listEntries(file: string, dir: string): Promise<number[] | { kind: 'live'; pid: number | null }> {
  for (;;) {
    try {
      return numbered(await readdir(dir));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw lockError(file, e);
        });
        continue;
      }
      if (code !== 'ENOTDIR') throw lockError(file, error);
    }
    const old = await readEntry(file, dir);
    const state = old ? entryState(old.text, old.ageMs) : ({ kind: 'dead' } as const);
    if (state.kind === 'live') return state;
    await unlink(dir).catch(() => undefined);
  }
}

/**
 * Run `section` holding the counter lock of `file`; waits asynchronously for a live owner (at most
 * LOCK_WAIT_MS, then `EIO` naming it).
 */
export async function withCounterLock<T>(file: string, section: () => Promise<T>): Promise<T> {
  const dir = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let poll = FIRST_POLL_MS;
  let owner: number | null = null;
  for (let first = true; ; first = false) {
    // Every way round this loop awaits the file system, and the deadline bounds it in all cases.
    if (!first && Date.now() > deadline) {
      throw new CurvetunError('EIO', `the nonce counter ${file} stays locked${owner ? ` by the live process ${owner}` : ''} (${dir}); remove that directory if no curvetun process uses this key`);
    }
    const listed = await listEntries(file, dir);
    let live: { pid: number | null } | null = Array.isArray(listed) ? null : listed;
    let top: number | undefined;
    if (Array.isArray(listed)) {
      top = listed.at(-1);
      if (top !== undefined) {
        const entry = await readEntry(file, join(dir, String(top)));
        if (entry === null) continue; // pruned as we looked: list again
        const state = entryState(entry.text, entry.ageMs);
        if (state.kind === 'live') live = state;
      }
    }
    if (live) {
      owner = live.pid;
      await sleep(poll);
      poll = Math.min(MAX_POLL_MS, poll * 2);
      continue;
    }
    const mine = (top ?? -1) + 1;
    const path = join(dir, String(mine));
    try {
      await writeFile(path, `${process.pid} ${OUR_START} ${threadId} ${Date.now()}\n`, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue; // someone else took that number
      throw lockError(file, error);
    }
    const now = numbered(await readdir(dir).catch(() => []));
    if (now.at(-1) !== mine) {
      await unlink(path).catch(() => undefined); // we worked from an old listing: withdraw
      continue;
    }
    for (const lower of now) if (lower < mine) await unlink(join(dir, String(lower))).catch(() => undefined);
    try {
      return await section();
    } finally {
      // Keep the entry (its number must not come back), marked released.
      await appendFile(path, `${RELEASED}\n`).catch(() => unlink(path).catch(() => undefined));
    }
  }
}
