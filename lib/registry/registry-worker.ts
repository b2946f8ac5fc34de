/**
 * The registry worker: owns known_hosts. Loads it, watches it, reloads it when it changes on disk
 * (a file with a bad line keeps the last good registry in force and reports file:line), answers
 * verify / lookup, and writes changes back atomically.
 */
import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs';
import { CurvetunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { keysEqual } from '../keys/text.js';
import { serveActor } from '../runtime/serve.js';
import { classify, lookupKey } from './core.js';
import type { Classification } from './core.js';
import { REGISTRY_HEADER, formatRegistryLine, parseRegistry } from './file.js';
import type { ParsedEntry } from './file.js';

export interface RegistryWorkerInit {
  file: string;
  create: boolean;
  /** How often the file is checked for changes, ms (default 500). */
  reloadIntervalMs?: number;
}

export interface RegistryStatus {
  entries: number;
  /** The last reload problem (`file:line: reason`), or null when the file in force is the one on disk. */
  lastError: string | null;
  reloads: number;
}

serveActor((init: RegistryWorkerInit) => {
  const { file } = init;
  if (!existsSync(file)) {
    if (!init.create) throw new CurvetunError('EINVAL', `no registry file at ${file}`);
    writeFileAtomic(file, REGISTRY_HEADER, 0o644);
  }
  let entries: ParsedEntry[] = parseRegistry(read(), file); // a bad file at start-up is an error
  let lastError: string | null = null;
  let reloads = 0;

  function read(): string {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new CurvetunError('EIO', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }

  function reload(): void {
    try {
      entries = parseRegistry(read(), file);
      lastError = null;
      reloads++;
    } catch (error) {
      // Keep the last good registry in force; say where the file is wrong.
      lastError = (error as Error).message;
    }
  }

  watchFile(file, { interval: init.reloadIntervalMs ?? 500 }, (now, before) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) reload();
  });
  process.once('exit', () => unwatchFile(file));

  /** Change the file through its text, so comments and order survive; then apply at once. */
  function rewrite(change: (lines: string[]) => string[]): void {
    const text = read();
    parseRegistry(text, file); // refuse to build on a broken file (the error names the line)
    const lines = text.replace(/\n$/, '').split('\n');
    const next = `${change(lines).join('\n')}\n`;
    entries = parseRegistry(next, file);
    writeFileAtomic(file, next, 0o644);
    lastError = null;
  }

  return {
    verify: ({ address, key }: { address: string; key: Uint8Array }): Promise<Classification> => classify(entries, address, key),
    lookup: (host: string) => lookupKey(entries, host),
    add: ({ who, key, comment }: { who: string; key: Uint8Array; comment?: string }) => {
      const line = formatRegistryLine(who, key, comment);
      rewrite((lines) => [...lines, line]);
    },
    remove: ({ who, key }: { who: string; key?: Uint8Array }) => {
      const drop = new Set(entries.filter((e) => e.who === who && (!key || keysEqual(e.key, key))).map((e) => e.line));
      if (drop.size > 0) rewrite((lines) => lines.filter((_, i) => !drop.has(i + 1)));
      return drop.size;
    },
    list: () => entries.map((e) => ({ who: e.who, key: e.key, comment: e.comment })),
    status: (): RegistryStatus => ({ entries: entries.length, lastError, reloads }),
    reload: () => {
      reload();
      return lastError;
    },
  };
});
