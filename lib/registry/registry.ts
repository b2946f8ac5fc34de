/**
 * `openRegistry()`: the known_hosts registry in a supervised worker, with trust on first use
 * decided on this thread (the approval hook is an ordinary async function of the application,
 * which cannot cross into a worker).
 */
import { EventEmitter } from 'node:events';
import { CurvetunError } from '../errors.js';
import { encodePublicKeyText } from '../keys/text.js';
import { canonicalAddress } from '../net/patterns.js';
import { startActor } from '../runtime/index.js';
import type { ActorRef, RestartPolicy } from '../runtime/index.js';
import type { LaneMethods } from '../runtime/lane.js';
import type { Classification } from './core.js';
import type { RegistryStatus, RegistryWorkerInit } from './registry-worker.js';
import type { Registry, RegistryEntry, Verdict } from './types.js';
import { INSPECT, describe } from '../inspect.js';

export interface TofuInfo {
  /** The address the client connects from (canonical form): the identity its key gets pinned to. */
  remoteAddress: string;
  /** The client's public key (32 bytes, a copy). */
  key: Uint8Array;
  /** The same key as base64 text, as it will appear in the file. */
  keyText: string;
}

export interface TofuOptions {
  /** Decide about a key never seen from this address. Resolve `true` to pin it; anything else denies. */
  approve(info: TofuInfo): Promise<boolean> | boolean;
  /** A hook that has not answered after this long denies (default 30 000 ms). */
  timeoutMs?: number;
}

export interface OpenRegistryOptions {
  /** The known_hosts file. */
  file: string;
  /** Create the file (with a header comment) when it does not exist (default false). */
  create?: boolean;
  /**
   * Trust on first use (servers): a key from an address the registry knows nothing about goes to
   * `approve`; an approved key is pinned to that address in the file. A different key later from
   * a pinned address is refused without asking. Without this option unknown keys are refused.
   */
  tofu?: TofuOptions;
  /** Poll interval of the fallback file watcher, ms (default 1000); fs.watch reacts sooner. */
  reloadIntervalMs?: number;
  /** Quiet time after a change on disk before the file is read, ms (default 50). */
  debounceMs?: number;
  /** Warn on stderr when a changed file is refused (default true). Problems are in `status()` either way. */
  logProblems?: boolean;
  /**
   * Refuse the file, with `EKEY` naming the path at fault, when it or any directory above it (up to
   * `/`) is not owned by us or root, or is writable by group or others (a sticky directory such as
   * /tmp excepted), as OpenSSH's StrictModes does for authorized_keys: whoever can write there can
   * add a key that this registry then trusts. Checked at open and on every reload (a refused
   * reload keeps the last good registry and reports it in `status()`). Default true.
   * `false` trusts the file whatever its permissions: only for a file system without Unix
   * permissions or a setup you have made safe another way.
   */
  strictModes?: boolean;
  restart?: Partial<RestartPolicy>;
}

const DEFAULT_TOFU_TIMEOUT_MS = 30_000;

/** A server asks verify once per handshake: it takes the shared-memory lane (lib/runtime/lane.ts). */
const REGISTRY_LANE: LaneMethods = {
  verify: { args: { address: 'text', key: 'bytes' }, result: 'json' },
};

export interface WorkerRegistryEvents {
  /** The entries in force changed: the file was re-read (edited, replaced, or the worker restarted) or lines were removed. */
  reload: [];
  /** A changed file was refused (`file:line: reason`); the last good entries stay in force. */
  problem: [message: string];
}

export class WorkerRegistry extends EventEmitter<WorkerRegistryEvents> implements Registry {
  /** One TOFU question per address at a time, so two racing keys cannot both be pinned. */
  private readonly asking = new Map<string, Promise<unknown>>();

  /** @internal Use `openRegistry()`. */
  constructor(
    readonly actor: ActorRef,
    private readonly options: OpenRegistryOptions,
  ) {
    super();
    // The worker says when it re-read the file; a restarted worker has re-read it too.
    actor.on('notice', (event: string, data: unknown) => {
      if (event === 'reload') this.emit('reload');
      else if (event === 'problem' && this.listenerCount('problem') > 0) this.emit('problem', String(data));
    });
    actor.on('restart', () => this.emit('reload'));
  }

  [INSPECT](): string {
    return describe('WorkerRegistry', { file: this.options.file, actor: this.actor.name });
  }

  async verify(remoteAddress: string, clientKey: Uint8Array): Promise<Verdict> {
    const c = await this.actor.call<Classification>('verify', { address: remoteAddress, key: clientKey });
    if (c.kind === 'allowed') return allowedVerdict(c.v1);
    const where = c.keyKnown ? { refusal: 'address-not-allowed' as const } : {};
    if (c.kind === 'conflict') return { allowed: false, reason: `${remoteAddress} is pinned to a different key`, ...where };
    if (!this.options.tofu) {
      return {
        allowed: false,
        reason: `no registry entry allows this key from ${remoteAddress}`,
        ...where,
      };
    }
    const address = canonicalAddress(remoteAddress)!; // the worker accepted it as an address
    return this.serialized(address, () => this.askFirstUse(address, clientKey));
  }

  async check(remoteAddress: string, clientKey: Uint8Array): Promise<Verdict> {
    const c = await this.actor.call<Classification>('verify', { address: remoteAddress, key: clientKey });
    if (c.kind === 'allowed') return { allowed: true };
    return { allowed: false, reason: `the registry no longer allows this key from ${remoteAddress}` };
  }

  private async serialized<T>(address: string, job: () => Promise<T>): Promise<T> {
    const before = this.asking.get(address) ?? Promise.resolve();
    const mine = before.then(job, job);
    const tail = mine.catch(() => undefined);
    this.asking.set(address, tail);
    try {
      return await mine;
    } finally {
      if (this.asking.get(address) === tail) this.asking.delete(address);
    }
  }

  private async askFirstUse(address: string, key: Uint8Array): Promise<Verdict> {
    // Another question for this address may have pinned a key while we waited our turn.
    const again = await this.actor.call<Classification>('verify', { address, key });
    if (again.kind === 'allowed') return allowedVerdict(again.v1);
    if (again.kind === 'conflict') return { allowed: false, reason: `${address} is pinned to a different key` };
    const tofu = this.options.tofu!;
    const approved = await approveWithin(tofu, { remoteAddress: address, key: new Uint8Array(key), keyText: encodePublicKeyText(key) });
    if (!approved) return { allowed: false, reason: `the approval hook declined this key from ${address}` };
    const result = await this.actor.call<'pinned' | 'allowed' | 'conflict'>('pin', { address, key, comment: `pinned on first use ${new Date().toISOString()}` });
    return result === 'conflict' ? { allowed: false, reason: `${address} is pinned to a different key` } : { allowed: true };
  }

  lookup(host: string, addresses?: readonly string[]): Promise<Uint8Array | undefined> {
    return this.actor.call('lookup', addresses ? { host, addresses: [...addresses] } : host);
  }

  /** The line `lookup` uses for `host`, with its `@v1` marker. */
  async lookupEntry(host: string, addresses?: readonly string[]): Promise<RegistryEntry | undefined> {
    return (await this.actor.call<RegistryEntry | null>('lookupEntry', addresses ? { host, addresses: [...addresses] } : host)) ?? undefined;
  }

  /**
   * Append a line; `comment` goes after `#`. Written to the file atomically, in force at once.
   * Resolves false, writing nothing, when a line with this `who`, key and `@v1` marker is there already.
   */
  async add(entry: RegistryEntry, comment?: string): Promise<boolean> {
    if (typeof entry !== 'object' || entry === null) throw new CurvetunError('EINVAL', 'add needs { who, key }');
    return this.actor.call<boolean>('add', { who: entry.who, key: entry.key, ...(comment ? { comment } : {}), ...(entry.v1 ? { v1: true } : {}) });
  }

  /** Remove the lines whose pattern text is `who` (and whose key is `key`, when given); returns how many. */
  remove(who: string, key?: Uint8Array): Promise<number> {
    return this.actor.call('remove', { who, ...(key ? { key } : {}) });
  }

  list(): Promise<RegistryEntry[]> {
    return this.actor.call('list');
  }

  /** Entries in force, reload counters and the last reload problem (`file:line: reason`), if any. */
  status(): Promise<RegistryStatus> {
    return this.actor.call('status');
  }

  /** Re-read the file now (it is also re-read when it changes); returns the problem, if any. */
  reload(): Promise<string | null> {
    return this.actor.call('reload');
  }

  close(): Promise<void> {
    return this.actor.stop();
  }
}

/** `{ allowed: true }`, with `v1: true` only when an allowing line carries @v1. */
function allowedVerdict(v1: boolean): Verdict {
  return v1 ? { allowed: true, v1: true } : { allowed: true };
}

/** Run the hook; a throw, a non-true answer or no answer within the deadline all deny. */
async function approveWithin(tofu: TofuOptions, info: TofuInfo): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), tofu.timeoutMs ?? DEFAULT_TOFU_TIMEOUT_MS);
  });
  try {
    const answer = await Promise.race([Promise.resolve().then(() => tofu.approve(info)), deadline]);
    return answer === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Open (or create) a registry file in its own supervised worker.
 * @example
 * const registry = await openRegistry({ file: '/etc/curvetun/known_hosts', create: true });
 * await registry.add({ who: '10.0.0.0/8', key: clientKey });
 */
export async function openRegistry(options: OpenRegistryOptions): Promise<WorkerRegistry> {
  if (typeof options?.file !== 'string' || options.file.length === 0) throw new CurvetunError('EINVAL', 'openRegistry needs { file }');
  const init: RegistryWorkerInit = {
    file: options.file,
    create: options.create ?? false,
    ...(options.reloadIntervalMs ? { reloadIntervalMs: options.reloadIntervalMs } : {}),
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    ...(options.logProblems !== undefined ? { logProblems: options.logProblems } : {}),
    ...(options.strictModes !== undefined ? { strictModes: options.strictModes } : {}),
  };
  const actor = await startActor({
    name: 'registry',
    script: new URL('./registry-worker.js', import.meta.url),
    init,
    lane: REGISTRY_LANE,
    ...(options.restart ? { restart: options.restart } : {}),
  });
  return new WorkerRegistry(actor, options);
}
