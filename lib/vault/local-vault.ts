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

export interface FileVaultOptions {
  /** The secret key file (its public half is `<file>.pub`, its nonce counter `<file>.counter`). */
  secretKeyFile: string;
  /** Generate and save a key pair when the file does not exist (default false). */
  create?: boolean;
  /** Counters reserved on disk at a time (default 1 048 576). */
  counterBlock?: number;
  /** Peers whose precomputed shared key is cached (default 1 024). */
  cacheSize?: number;
  crypto?: BackendChoice;
}

export class LocalVault extends CoreVault {
  private constructor(core: VaultCore) {
    super(core);
  }

  /** A vault over a key file, with its counter persisted next to it. */
  static async open(options: FileVaultOptions): Promise<LocalVault> {
    const backend = getBackend(options.crypto ?? 'auto');
    const identity = loadIdentity(options.secretKeyFile, backend, options.create ?? false);
    const counter = new FileCounter(`${options.secretKeyFile}.counter`, options.counterBlock);
    try {
      await counter.ready(); // the first block, before the first handshake needs it
    } catch (error) {
      identity.secretKey.fill(0);
      identity.scrambleKey.fill(0);
      throw error;
    }
    return LocalVault.fromIdentity(identity, backend, counter, options.cacheSize);
  }

  /** A throwaway identity that lives only in memory (its counters too). */
  static generate(options: { crypto?: BackendChoice; cacheSize?: number } = {}): LocalVault {
    const backend = getBackend(options.crypto ?? 'auto');
    return LocalVault.fromIdentity(generateIdentity(backend, 'ephemeral'), backend, new MemoryCounter(), options.cacheSize);
  }

  private static fromIdentity(identity: Identity, backend: CryptoBackend, counter: CounterSource, cacheSize?: number): LocalVault {
    const { secretKey } = identity;
    return new LocalVault(
      new VaultCore({
        backend,
        publicKey: identity.publicKey,
        scrambleKey: identity.scrambleKey,
        counter,
        withSecret: (fn) => fn(secretKey),
        ...(cacheSize ? { cacheSize } : {}),
      }),
    );
  }
}
