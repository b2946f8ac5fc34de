/**
 * `openRegistry()`: the known_hosts registry in a supervised worker, with trust on first use
 * decided on this thread (the approval hook is an ordinary async function of the application).
 */
import { startActor } from '../runtime/index.js';
import type { ActorRef, RestartPolicy } from '../runtime/index.js';
import type { Classification } from './core.js';
import type { RegistryStatus, RegistryWorkerInit } from './registry-worker.js';
import type { Registry, RegistryEntry, Verdict } from './types.js';

export interface TofuInfo {
  /** The address the client connects from: the identity its key gets pinned to. */
  remoteAddress: string;
  /** The client's public key (32 bytes). */
  key: Uint8Array;
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
  tofu?: { approve(info: TofuInfo): Promise<boolean> | boolean };
  /** How often the file is checked for changes on disk, ms (default 500). */
  reloadIntervalMs?: number;
  restart?: Partial<RestartPolicy>;
}

export class WorkerRegistry implements Registry {
  constructor(readonly actor: ActorRef, private readonly options: OpenRegistryOptions) {}

  async verify(remoteAddress: string, clientKey: Uint8Array): Promise<Verdict> {
    const c = await this.actor.call<Classification>('verify', { address: remoteAddress, key: clientKey });
    if (c.kind === 'allowed') return { allowed: true };
    if (c.kind === 'conflict') {
      return { allowed: false, reason: `${remoteAddress} is pinned to a different key` };
    }
    const tofu = this.options.tofu;
    if (tofu) {
      let approved = false;
      try {
        approved = await tofu.approve({ remoteAddress, key: new Uint8Array(clientKey) });
      } catch {
        approved = false; // a failing hook denies
      }
      if (approved) {
        await this.add({ who: remoteAddress, key: clientKey }, 'pinned on first use');
        return { allowed: true };
      }
      return { allowed: false, reason: `the approval hook declined this key from ${remoteAddress}` };
    }
    return { allowed: false, reason: `no registry entry allows this key from ${remoteAddress}` };
  }

  lookup(host: string): Promise<Uint8Array | undefined> {
    return this.actor.call('lookup', host);
  }

  async add(entry: RegistryEntry, comment?: string): Promise<void> {
    await this.actor.call('add', { who: entry.who, key: entry.key, ...(comment ? { comment } : {}) });
  }

  remove(who: string, key?: Uint8Array): Promise<number> {
    return this.actor.call('remove', { who, ...(key ? { key } : {}) });
  }

  list(): Promise<RegistryEntry[]> {
    return this.actor.call('list');
  }

  /** Entries in force and the last reload problem (`file:line: reason`), if any. */
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

/**
 * @example
 * const registry = await openRegistry({ file: '/etc/curvetun/known_hosts', create: true });
 * await registry.add({ who: '10.0.0.0/8', key: clientKey });
 */
export async function openRegistry(options: OpenRegistryOptions): Promise<WorkerRegistry> {
  const init: RegistryWorkerInit = {
    file: options.file,
    create: options.create ?? false,
    ...(options.reloadIntervalMs ? { reloadIntervalMs: options.reloadIntervalMs } : {}),
  };
  const actor = await startActor({
    name: 'registry',
    script: new URL('./registry-worker.js', import.meta.url),
    init,
    ...(options.restart ? { restart: options.restart } : {}),
  });
  return new WorkerRegistry(actor, options);
}
