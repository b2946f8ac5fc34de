/**
 * Instance numbers: one long-term key run from copies on several machines (services that share an
 * identity) must never make one safe nonce twice, yet the copies share no counter file. Each copy
 * gets its own number K (0 to 2 047), stored beside the key as `<key file>.instance`; its nonces
 * carry K in the top 11 bits of their counter (lib/protocol/nonce.ts), so the copies' nonces are
 * disjoint by construction. A key without the file is instance 0, which is exactly the counter
 * layout from before instances existed.
 *
 * What a number cannot protect against is two copies running with the same number. Across machines
 * that is the operator's to avoid (PROTOCOL.md); on one machine we refuse it: every vault that
 * opens a key file claims (key, instance) in a machine-wide directory, naming its counter file.
 * Any number of vaults may share a claim over the same counter file (the workers of one serve,
 * whose reservations the counter lock keeps apart); a live claim over another counter file (a
 * second copy of the key on this machine) is refused with EBUSY.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rmdir, unlink, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { fingerprint } from '../keys/fingerprint.js';
import { MAX_INSTANCE } from '../protocol/nonce.js';
import { OUR_START, processLives, withCounterLock } from './counter-lock.js';

export { MAX_INSTANCE } from '../protocol/nonce.js';

/** `<key file>.instance`: this copy's number, one line. */
export function instanceFileFor(secretKeyFile: string): string {
  return `${secretKeyFile}.instance`;
}

function checkInstance(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_INSTANCE) {
    throw new CurvetunError('EINVAL', `${what} must be an integer from 0 to ${MAX_INSTANCE}`);
  }
  return value;
}

/** The stored number, or null when there is no file. A file we cannot read is EIO: never guess. */
export function readInstance(secretKeyFile: string): number | null {
  const file = instanceFileFor(secretKeyFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CurvetunError('EIO', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`, { cause: error });
  }
  const trimmed = text.trim();
  if (!/^\d{1,4}$/.test(trimmed) || Number(trimmed) > MAX_INSTANCE) throw new CurvetunError('EIO', `${file} is corrupt (an instance number is 0 to ${MAX_INSTANCE}); refusing to start`);
  return Number(trimmed);
}

/** The number a vault over this key file will run as, and whether it must be stored once claimed. */
export interface InstancePlan {
  instance: number;
  store: boolean;
}

/**
 * This copy's number: `requested` when given (to be stored if the key has none yet; refused if it
 * has another: renumbering a copy that already made nonces could overlap another copy's), else the
 * stored one, else 0. Nothing is written here: only a claimed number is stored (`openInstance`).
 */
export function planInstance(secretKeyFile: string, requested?: number): InstancePlan {
  const stored = readInstance(secretKeyFile);
  if (requested === undefined) return { instance: stored ?? 0, store: false };
  checkInstance(requested, 'the instance number');
  if (stored !== null && stored !== requested) {
    throw new CurvetunError('EINVAL', `${secretKeyFile} is instance ${stored} (${instanceFileFor(secretKeyFile)}); refusing to run it as instance ${requested}`);
  }
  return { instance: requested, store: stored === null };
}

/** The machine-wide directory of claims: `$CURVETUN_RUN_DIR`, else `<tmpdir>/curvetun-<uid>`. */
export function claimsDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.CURVETUN_RUN_DIR ?? join(tmpdir(), `curvetun-${process.getuid?.() ?? 'user'}`), 'instances');
}

/** The counter file's path with its directory's links resolved (the file itself may not exist yet). */
function counterIdentity(counterFile: string): string {
  try {
    return join(realpathSync(dirname(counterFile)), basename(counterFile));
  } catch {
    return counterFile;
  }
}

/** Made by us, for us only: a directory others can write could plant or hide claims. */
async function ownDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  const uid = process.getuid?.();
  if (!info.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0) {
    throw new CurvetunError('EIO', `the instance claims directory ${dir} is not a directory of ours that only we can write`);
  }
}

export interface InstanceClaim {
  readonly instance: number;
  /** Withdraw the claim (a vault's close). Idempotent; a crash leaves it to be pruned as dead. */
  release(): Promise<void>;
}

/**
 * Claim (key, instance) on this machine for a vault over `counterFile`; EBUSY when a live process
 * claims it over another counter file.
 */
export async function claimInstance(publicKey: Uint8Array, instance: number, counterFile: string, dir = claimsDirectory()): Promise<InstanceClaim> {
  checkInstance(instance, 'the instance number');
  const name = `${createHash('sha256').update(publicKey).digest('hex').slice(0, 32)}.${instance}`;
  const entries = join(dir, name);
  const ours = counterIdentity(counterFile);
  const entry = join(entries, `${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`);
  await ownDirectory(dir);
  // One lock for the whole directory: claims are made once per vault, and nothing stays behind per key.
  const lock = join(dir, 'claims');
  await withCounterLock(lock, async () => {
    await mkdir(entries, { recursive: true, mode: 0o700 });
    for (const other of await readdir(entries)) {
      const path = join(entries, other);
      const text = await readFile(path, 'utf8').catch(() => null);
      const claim = text === null ? null : /^(\d+) (\S+) (.+)\n/.exec(text);
      if (!claim || !processLives(Number(claim[1]), claim[2]!)) {
        await unlink(path).catch(() => undefined); // a dead claimant's, or unreadable: gone
        continue;
      }
      if (claim[3] !== ours) {
        throw new CurvetunError(
          'EBUSY',
          `instance ${instance} of the key ${fingerprint(publicKey)} already runs on this machine over another copy of the key (process ${claim[1]}, counter ${claim[3]}): give this copy its own instance number`,
        );
      }
    }
    await writeFile(entry, `${process.pid} ${OUR_START} ${ours}\n`, { mode: 0o600 });
  });
  let released = false;
  return {
    instance,
    async release() {
      if (released) return;
      released = true;
      await withCounterLock(lock, async () => {
        await unlink(entry).catch(() => undefined);
        await rmdir(entries).catch(() => undefined); // only when it was the last claim
      }).catch(() => unlink(entry).catch(() => undefined));
    },
  };
}

/**
 * For vault adapters: claim the planned number for this key file on this machine, then store it
 * beside the key if it is new. A refused claim stores nothing.
 */
export async function openInstance(secretKeyFile: string, publicKey: Uint8Array, plan: InstancePlan): Promise<InstanceClaim> {
  const claim = await claimInstance(publicKey, plan.instance, `${secretKeyFile}.counter`);
  try {
    if (plan.store) writeFileAtomic(instanceFileFor(secretKeyFile), `${plan.instance}\n`, 0o600);
  } catch (error) {
    await claim.release();
    throw error;
  }
  return claim;
}
