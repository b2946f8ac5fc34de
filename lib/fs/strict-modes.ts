/**
 * "StrictModes" for files that decide whom we trust (known_hosts), after OpenSSH's check of
 * authorized_keys: the file and every directory above it, up to `/`, must be owned by us or by
 * root and writable by nobody else. Anyone who can write the file — or rename things in a directory
 * on its path — can add a key of their own.
 *
 * One exception, unlike OpenSSH: a directory others may write to is accepted when it has the
 * sticky bit (like /tmp, mode 1777), because there nobody but the owner of an entry can rename or
 * remove it, so what is ours below it stays ours. Symbolic links are followed: both the path as
 * given and the real path are checked.
 */
import { realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CurvetunError } from '../errors.js';

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/** Turns the check off, for the default home and the CLI: `CURVETUN_STRICT_MODES=0` (or no, off, false). */
export function strictModesFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CURVETUN_STRICT_MODES?.trim().toLowerCase();
  return !(value === '0' || value === 'no' || value === 'off' || value === 'false');
}

/** `path` and every directory above it, the path itself first. */
function chain(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.push(p);
    if (dirname(p) === p) return out;
  }
}

function problemWith(path: string, st: Stats, isTarget: boolean, uid: number): string | null {
  if (isTarget && !st.isFile()) return `${path} is not a regular file`;
  if (st.uid !== uid && st.uid !== 0) return `${path} is owned by uid ${st.uid}, neither by us (uid ${uid}) nor by root`;
  const mode = st.mode & 0o7777;
  const othersWrite = (mode & GROUP_OR_OTHER_WRITE) !== 0;
  if (othersWrite && !(st.isDirectory() && (mode & STICKY) !== 0)) {
    return `${path} is writable by ${mode & 0o002 ? 'anyone' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')})`;
  }
  return null;
}

/**
 * Refuse `file` (`EKEY`, naming the path at fault) unless it and every directory above it are
 * owned by us or root and not writable by group or others (sticky directories excepted). `what`
 * names the file in the message. A no-op where there are no Unix owners (Windows).
 */
export function checkStrictModes(file: string, what = 'file'): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  const given = resolve(file);
  let real: string;
  try {
    real = realpathSync.native(given);
  } catch (error) {
    // A file that is not there holds no keys: reading it reports that, not this check.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CurvetunError('EKEY', `cannot check the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unknown'}`, { cause: error });
  }
  const seen = new Set<string>();
  for (const [path, isTarget] of [...chain(real).map((p, i) => [p, i === 0] as const), ...chain(dirname(given)).map((p) => [p, false] as const)]) {
    if (seen.has(path)) continue;
    seen.add(path);
    let st: Stats;
    try {
      st = statSync(path);
    } catch (error) {
      throw new CurvetunError('EKEY', `cannot check the ${what} ${file}: ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unknown'}`, { cause: error });
    }
    const problem = problemWith(path, st, isTarget, uid);
    if (problem) {
      throw new CurvetunError(
        'EKEY',
        `refusing the ${what} ${file}: ${problem}, so someone else could add keys to it. ` +
          `Fix the permissions (chmod go-w, chown), or turn the check off with strictModes: false / CURVETUN_STRICT_MODES=0`,
      );
    }
  }
}
