/**
 * The registry worker: owns known_hosts. Loads it, watches it, reloads it when it changes on disk
 * (a file with a bad line keeps the last good registry in force and reports file:line), answers
 * verify / lookup, and writes changes back atomically. Nothing it meets on disk crashes it.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync, unwatchFile, watch, watchFile } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CurvetunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { checkStrictModes } from '../fs/strict-modes.js';
import { keysEqual } from '../keys/text.js';
import { serveActor } from '../runtime/serve.js';
import { checkAddresses, checkPeer, classify, isPinned, lookupKey, lookupLine } from './core.js';
import type { Classification, LookupOptions } from './core.js';
import { REGISTRY_HEADER, RegistryFileError, formatRegistryLine, parseRegistry } from './file.js';
import type { ParsedEntry } from './file.js';

export interface RegistryWorkerInit {
  file: string;
  create: boolean;
  /** Poll interval of the fallback watcher, ms (default 1000). */
  reloadIntervalMs?: number;
  /** Quiet time after a change event before reading the file, ms (default 50). */
  debounceMs?: number;
  /** Write a one-line warning to stderr when a reload fails (default true). */
  logProblems?: boolean;
  /** Refuse a file (or a directory above it) that others can write (default true; lib/fs/strict-modes.ts). */
  strictModes?: boolean;
}

/** Where the file on disk is wrong. Holds no key bytes. */
export interface RegistryProblem {
  file: string;
  /** 1-based line number; 0 when the file as a whole could not be read. */
  line: number;
  message: string;
  at: number;
}

export interface RegistryStatus {
  entries: number;
  /** The last reload problem (`file:line: reason`), or null when the file in force is the one on disk. */
  lastError: string | null;
  problem: RegistryProblem | null;
  /** Successful reloads of a changed file. */
  reloads: number;
  /** Reloads refused because the file was bad or unreadable. */
  failedReloads: number;
}

/** A registry file larger than this is refused rather than read into memory. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

function readBounded(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size > MAX_FILE_BYTES) throw new CurvetunError('EIO', `${file} is larger than ${MAX_FILE_BYTES} bytes`);
    const buffer = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buffer, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buffer.subarray(0, got).toString('utf8');
  } catch (error) {
    if (error instanceof CurvetunError) throw error;
    throw new CurvetunError('EIO', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown'}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function modeOf(file: string): number {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    return 0o644;
  }
}

serveActor((init: RegistryWorkerInit, context) => {
  const { file } = init;
  if (typeof file !== 'string' || file.length === 0) throw new CurvetunError('EINVAL', 'the registry needs a file');
  if (!existsSync(file)) {
    if (!init.create) throw new CurvetunError('EINVAL', `no registry file at ${file}`);
    writeFileAtomic(file, REGISTRY_HEADER, 0o644);
  }
  /** Who can write the file decides whom we trust: EKEY unless only we (or root) can. */
  const checkModes = init.strictModes === false ? () => undefined : () => checkStrictModes(file, 'registry file');
  checkModes();
  let text = readBounded(file);
  let entries: ParsedEntry[] = parseRegistry(text, file); // a bad file at start-up is an error
  let problem: RegistryProblem | null = null;
  let reloads = 0;
  let failedReloads = 0;

  /** Re-read the file; swap in its entries only when all of it parses. */
  function reload(): void {
    let next: string;
    try {
      checkModes(); // also when the text is unchanged: a chmod alone makes a file untrustworthy
      next = readBounded(file);
      if (next === text && problem === null) return; // our own write, or a touch
      entries = parseRegistry(next, file);
      text = next;
      problem = null;
      reloads++;
      // The owner re-checks the sessions it has open: a key may have lost its line.
      context.notify('reload', { reloads, entries: entries.length });
    } catch (error) {
      const line = error instanceof RegistryFileError ? error.line : 0;
      const message = error instanceof CurvetunError ? error.message : `cannot reload ${file}`;
      if (problem?.message !== message) {
        failedReloads++;
        if (init.logProblems !== false) process.stderr.write(`curvetun registry: kept the last good registry: ${message}\n`);
        context.notify('problem', message);
      }
      problem = { file, line, message, at: Date.now() };
    }
  }

  // fs.watch on the directory sees atomic replacements (rename over the file) as well as edits in
  // place; watchFile polls as the fallback for file systems where fs.watch is silent.
  let debounce: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(debounce);
    debounce = setTimeout(reload, init.debounceMs ?? 50);
  };
  let watcher: FSWatcher | undefined;
  try {
    const name = basename(file);
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed.toString() === name) schedule();
    });
    watcher.on('error', () => {
      watcher?.close(); // the poll below carries on alone
      watcher = undefined;
    });
  } catch {
    watcher = undefined;
  }
  watchFile(file, { interval: init.reloadIntervalMs ?? 1000, persistent: false }, (now, before) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino || now.mode !== before.mode || now.uid !== before.uid) schedule();
  });
  process.once('exit', () => {
    watcher?.close();
    unwatchFile(file);
  });

  /**
   * Change the file through its text, so comments and order survive; then apply at once. `change`
   * sees the lines and entries on disk now, and returns null to leave the file untouched.
   */
  function rewrite(change: (lines: string[], current: ParsedEntry[]) => string[] | null): boolean {
    checkModes(); // never build on a file someone else could have written
    const currentText = readBounded(file);
    const current = parseRegistry(currentText, file); // refuse to build on a broken file (the error names the line)
    const lines = currentText.length === 0 ? [] : currentText.replace(/\n$/, '').split('\n');
    const changed = change(lines, current);
    if (changed === null) return false;
    const next = `${changed.join('\n')}\n`;
    const parsed = parseRegistry(next, file);
    writeFileAtomic(file, next, modeOf(file)); // keep the owner's choice (e.g. 0600)
    entries = parsed;
    text = next;
    problem = null;
    return true;
  }

  /** The registry's arguments for `lookupKey` / `lookupLine`: a host, or a host and the addresses the caller will dial. */
  type LookupArgs = string | { host: string; addresses: unknown };
  const lookupArgs = (args: LookupArgs): [string, LookupOptions] =>
    typeof args === 'string' ? [args, { file }] : [args?.host, { file, addresses: checkAddresses(args?.addresses) }];

  return {
    verify: ({ address, key }: { address: string; key: Uint8Array }): Promise<Classification> => classify(entries, address, key),
    lookup: (args: LookupArgs) => lookupKey(entries, ...lookupArgs(args)),
    lookupEntry: async (args: LookupArgs) => {
      const e = await lookupLine(entries, ...lookupArgs(args));
      return e ? { who: e.who, key: e.key, comment: e.comment, v1: e.v1 } : null;
    },
    /** Append a line; false (and nothing written) when a line with this pattern, key and marker exists. */
    add: ({ who, key, comment, v1 }: { who: string; key: Uint8Array; comment?: string; v1?: boolean }): boolean => {
      const marked = v1 === true;
      const line = formatRegistryLine(who, key, comment, marked);
      const w = who.trim();
      return rewrite((lines, current) => (current.some((e) => e.who === w && keysEqual(e.key, key) && e.v1 === marked) ? null : [...lines, line]));
    },
    /**
     * TOFU: pin `key` to the exact `address`, unless the address is pinned already (then the
     * answer is the existing verdict). Checked and written in one step of this single thread.
     */
    pin: ({ address, key, comment }: { address: string; key: Uint8Array; comment?: string }): 'pinned' | 'allowed' | 'conflict' => {
      const peer = checkPeer(address, key);
      const pinnedTo = entries.filter((e) => e.pattern.kind === 'address' && isPinned([e], peer.address));
      if (pinnedTo.length > 0) return pinnedTo.some((e) => keysEqual(e.key, peer.key)) ? 'allowed' : 'conflict';
      const line = formatRegistryLine(peer.address, peer.key, comment);
      rewrite((lines) => [...lines, line]);
      return 'pinned';
    },
    remove: ({ who, key }: { who: string; key?: Uint8Array }) => {
      if (typeof who !== 'string') throw new CurvetunError('EINVAL', 'remove needs the pattern text');
      const w = who.trim();
      let removed = 0;
      const changed = rewrite((lines, current) => {
        const drop = new Set(current.filter((e) => e.who === w && (!key || keysEqual(e.key, key))).map((e) => e.line));
        removed = drop.size;
        return drop.size > 0 ? lines.filter((_, i) => !drop.has(i + 1)) : null;
      });
      // A key may have lost its last line: the owner re-checks its open sessions.
      if (changed) context.notify('reload', { reloads, entries: entries.length });
      return removed;
    },
    list: () => entries.map((e) => ({ who: e.who, key: e.key, comment: e.comment, v1: e.v1 })),
    status: (): RegistryStatus => ({
      entries: entries.length,
      lastError: problem?.message ?? null,
      problem,
      reloads,
      failedReloads,
    }),
    reload: () => {
      reload();
      return problem?.message ?? null;
    },
  };
});
