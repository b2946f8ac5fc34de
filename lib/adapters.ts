/**
 * `curvetun/adapters`: building blocks for code that replaces a part of curvetun (a vault over an
 * HSM, a cookie keeper, a crypto backend, an actor of its own, a transport over a socket), kept
 * out of the root entry, which is for applications. docs/vault-adapters.md is the guide.
 *
 * Some of these hand out secret key bytes (`loadSecretKeyFile`, `loadIdentity`): they are for code
 * that becomes the key's new home, never for passing keys around.
 *
 * @example
 * import { VaultCore, FileCounter, loadIdentity, getBackend } from 'curvetun/adapters';
 * import type { Vault, HelloOpening } from 'curvetun/adapters';
 */

// The interfaces an adapter implements, and what their methods exchange.
export type { Vault, SealedBox, HelloOpening, HelloV2Request, HelloV2Opening, VouchV2Request } from './vault/types.js';
export type { CookieKeeper, CookieContents, CookieSecretsV2 } from './cookie/types.js';
export type { Registry, RegistryEntry, Verdict } from './registry/types.js';
export type { CryptoBackend, KeyPair } from './crypto/backend.js';
export { getBackend, availableBackends } from './crypto/index.js';
export type { BackendName, BackendChoice } from './crypto/index.js';

// A vault: the shared logic (open/seal with the long-term key, safe nonces) and its counters.
export { VaultCore, CoreVault, FileCounter, MemoryCounter, DEFAULT_COUNTER_BLOCK } from './vault/index.js';
export type { VaultCoreOptions, CounterSource } from './vault/index.js';
// Instance numbers: one key run from copies on several machines (lib/vault/instance.ts).
export { planInstance, openInstance, MAX_INSTANCE } from './vault/index.js';
export type { InstanceClaim, InstancePlan } from './vault/index.js';

// A cookie keeper: minute keys, cookie seal/open and the replay guard, independent of a thread.
export { CookieCore } from './cookie/index.js';
export type { CookieKeeperOptions, CookieStats } from './cookie/index.js';

// Key material for the key's new home.
export { loadIdentity, generateIdentity } from './keys/generate.js';
export type { Identity } from './keys/generate.js';
export { loadSecretKeyFile } from './keys/keyfile.js';
export type { SecretKeyMaterial } from './keys/keyfile.js';

// Actors on worker_threads: a supervised worker answering typed calls.
export { startActor, DEFAULT_RESTART } from './runtime/index.js';
export { serveActor } from './runtime/serve.js';
export type { ActorRef, ActorSpec, CallOptions, RestartPolicy, Handlers, ServeContext } from './runtime/index.js';
export type { LaneMethods } from './runtime/lane.js';

// Stream mode over anything message-shaped.
export { messageStream, cutIntoMessages } from './stream/index.js';
export type { MessageSocket } from './stream/index.js';
