/**
 * The in-process vault: the key lives in this thread's memory. For embedding, tests, and programs
 * that do not want a worker. Same contract as every vault.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { generateIdentity, loadIdentity } from '../keys/generate.js';
import type { Identity } from '../keys/generate.js';
import { FileCounter, MemoryCounter } from './counter.js';
import type { CounterSource } from './counter.js';
import { VaultCore } from './core.js';
import { CoreVault } from './core-vault.js';
import { openInstance, planInstance } from './instance.js';
import type { InstanceClaim } from './instance.js';

export interface FileVaultOptions {
  /** The secret key file (its public half is `<file>.pub`, its nonce counter `<file>.counter`). */
  secretKeyFile: string;
  /** Generate and save a key pair when the file does not exist (default false). */
  create?: boolean;
  /** Counters reserved on disk at a time (default 1 048 576). */
  counterBlock?: number;
  /**
   * This copy's instance number (0 to 2 047), for one key run from copies on several machines:
   * each copy's nonces are then disjoint from the others' (lib/vault/instance.ts). Stored in
   * `<file>.instance` the first time; a different stored number is refused (EINVAL). Default: the
   * stored number, else 0. Two copies of one key with one number on one machine: EBUSY.
   * @example { secretKeyFile: '/etc/curvetun/id_curvetun', instance: 2 }
   */
  instance?: number;
  /** Peers whose precomputed shared key is cached (default 1 024). */
  cacheSize?: number;
  crypto?: BackendChoice;
}

export class LocalVault extends CoreVault {
  private constructor(core: VaultCore, claim: InstanceClaim | null) {
    super(core, claim);
  }

  /** A vault over a key file, with its counter persisted next to it. */
  static async open(options: FileVaultOptions): Promise<LocalVault> {
    const backend = getBackend(options.crypto ?? 'auto');
    const identity = loadIdentity(options.secretKeyFile, backend, options.create ?? false);
    const counter = new FileCounter(`${options.secretKeyFile}.counter`, options.counterBlock);
    let claim: InstanceClaim | null = null;
    try {
      claim = await openInstance(options.secretKeyFile, identity.publicKey, planInstance(options.secretKeyFile, options.instance));
      await counter.ready(); // the first block, before the first handshake needs it
    } catch (error) {
      await claim?.release();
      identity.secretKey.fill(0);
      identity.scrambleKey.fill(0);
      throw error;
    }
    return LocalVault.fromIdentity(identity, backend, counter, options.cacheSize, claim);
  }

  /** A throwaway identity that lives only in memory (its counters too). */
  static generate(options: { crypto?: BackendChoice; cacheSize?: number } = {}): LocalVault {
    const backend = getBackend(options.crypto ?? 'auto');
    return LocalVault.fromIdentity(generateIdentity(backend, 'ephemeral'), backend, new MemoryCounter(), options.cacheSize, null);
  }

  private static fromIdentity(identity: Identity, backend: CryptoBackend, counter: CounterSource, cacheSize: number | undefined, claim: InstanceClaim | null): LocalVault {
    const { secretKey } = identity;
    return new LocalVault(
      new VaultCore({
        backend,
        publicKey: identity.publicKey,
        scrambleKey: identity.scrambleKey,
        counter,
        instance: claim?.instance ?? 0,
        withSecret: (fn) => fn(secretKey),
        ...(cacheSize ? { cacheSize } : {}),
      }),
      claim,
    );
  }
}
