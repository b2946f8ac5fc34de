/**
 * Vaults: the only holders of the long-term secret key. Pick one; swapping is one line.
 *
 * @example
 * const vault = await WorkerVault.open({ secretKeyFile: 'id_curvetun', create: true }); // default
 * const vault = await LocalVault.open({ secretKeyFile: 'id_curvetun' });                // in-process
 * const vault = await SodiumVault.open({ secretKeyFile: 'id_curvetun' });               // secure memory
 */
export { WorkerVault } from './worker-vault.js';
export type { WorkerVaultOptions } from './worker-vault.js';
export { LocalVault } from './local-vault.js';
export type { FileVaultOptions } from './local-vault.js';
export { SodiumVault } from './sodium-vault.js';
export type { Vault, SealedBox } from './types.js';
// Building blocks for adapter authors (docs/vault-adapters.md).
export { VaultCore } from './core.js';
export { CoreVault } from './core-vault.js';
export type { VaultCoreOptions } from './core.js';
export { FileCounter, MemoryCounter, DEFAULT_COUNTER_BLOCK } from './counter.js';
export type { CounterSource } from './counter.js';
export { planInstance, openInstance, readInstance, instanceFileFor, MAX_INSTANCE } from './instance.js';
export type { InstanceClaim, InstancePlan } from './instance.js';
