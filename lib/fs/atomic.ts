/**
 * Atomic file replacement: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. A crash at any point leaves either the old or the new file whole.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CurvetunError } from '../errors.js';

/** The temp file next to `path` that becomes it: same directory, so the rename is atomic. */
function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function writeError(path: string, error: unknown): CurvetunError {
  const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
  return new CurvetunError('EIO', `cannot write ${path}: ${code}`, { cause: error });
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  const temp = tempNameFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', mode);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
    syncDirectory(dir);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(temp);
    throw writeError(path, error);
  }
}

/** The same steps without blocking the event loop (for writes a waiting caller must not stall). */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = tempNameFor(path);
  let file: FileHandle | undefined;
  try {
    file = await open(temp, 'wx', mode);
    await file.writeFile(data);
    await file.sync();
    await file.close();
    file = undefined;
    await rename(temp, path);
    const dir = await open(dirname(path), 'r').catch(() => undefined);
    await dir?.sync().catch(() => undefined); // as syncDirectory: refused on some file systems
    await dir?.close();
  } catch (error) {
    await file?.close().catch(() => undefined);
    removeQuietly(temp);
    throw writeError(path, error);
  }
}

/** Best-effort cleanup: the original failure is the one worth reporting. */
export function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // e.g. ENOTDIR when the "directory" was never one; nothing was created then
  }
}

/** fsync a directory so a rename or link in it is durable; refused on some file systems, then a no-op. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename or link itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
