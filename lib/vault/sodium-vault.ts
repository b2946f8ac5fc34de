/**
 * A vault whose secret key sits in libsodium secure memory (`sodium_malloc`: guard pages, locked,
 * never swapped) and is unreadable between uses (`sodium_mprotect_noaccess`); it is unlocked
 * read-only just for a scalar multiplication. It stands in for an HSM or a native module: the
 * same `Vault` contract, a different home for the key. Needs the optional `sodium-native`.
 */
import { getBackend } from '../crypto/index.js';
import { loadSodium } from '../crypto/sodium.js';
import { CurvetunError } from '../errors.js';
import { loadIdentity } from '../keys/generate.js';
import { FileCounter } from './counter.js';
import { VaultCore } from './core.js';
import { CoreVault } from './core-vault.js';
import { openInstance, planInstance } from './instance.js';
import type { InstanceClaim } from './instance.js';
import type { FileVaultOptions } from './local-vault.js';
import { KEY_BYTES } from '../protocol/constants.js';

export class SodiumVault extends CoreVault {
  /**
   * The secure buffer is reached only through closures (`withSecret` in the core, `wipe` here): no
   * field holds it, so nothing can inspect it (reading it between uses would fault).
   */
  private constructor(core: VaultCore, private readonly wipe: () => void, claim: InstanceClaim) {
    super(core, claim);
  }

  /** Whether this adapter can run here (sodium-native installed and loadable). */
  static available(): boolean {
    return loadSodium() !== null;
  }

  static async open(options: FileVaultOptions): Promise<SodiumVault> {
    const sodium = loadSodium();
    if (!sodium) throw new CurvetunError('EINVAL', 'SodiumVault needs the optional dependency sodium-native');
    const backend = getBackend(options.crypto ?? 'sodium');
    const identity = loadIdentity(options.secretKeyFile, backend, options.create ?? false);
    const counter = new FileCounter(`${options.secretKeyFile}.counter`, options.counterBlock);
    let claim: InstanceClaim | null = null;
    try {
      claim = await openInstance(options.secretKeyFile, identity.publicKey, planInstance(options.secretKeyFile, options.instance));
      await counter.ready(); // the first block, before the first handshake needs it
    } catch (error) {
      await claim?.release();
      sodium.sodium_memzero(identity.secretKey);
      throw error;
    }
    const secure = sodium.sodium_malloc(KEY_BYTES);
    secure.set(identity.secretKey);
    sodium.sodium_memzero(identity.secretKey);
    sodium.sodium_mprotect_noaccess(secure);
    const core = new VaultCore({
      backend,
      publicKey: identity.publicKey,
      scrambleKey: identity.scrambleKey,
      counter,
      instance: claim.instance,
      withSecret: (fn) => {
        sodium.sodium_mprotect_readonly(secure);
        try {
          return fn(secure);
        } finally {
          sodium.sodium_mprotect_noaccess(secure);
        }
      },
      ...(options.cacheSize ? { cacheSize: options.cacheSize } : {}),
    });
    const wipe = () => {
      sodium.sodium_mprotect_readwrite(secure);
      sodium.sodium_memzero(secure);
      sodium.sodium_mprotect_noaccess(secure);
    };
    return new SodiumVault(core, wipe, claim);
  }

  /** Wipe the secure memory holding the key. */
  protected override release(): void {
    this.wipe();
  }
}
