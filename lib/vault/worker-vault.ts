/**
 * The default vault: the key lives in a supervised worker thread (see vault-worker.ts). If the
 * worker dies, calls in flight fail with `EACTOR`, the supervisor restarts it, and the counter
 * resumes above its on-disk reservation, so no nonce is ever reused.
 */
import { getBackend } from '../crypto/index.js';
import { CurvetunError } from '../errors.js';
import { isSuite } from '../protocol/v2/constants.js';
import { startActor } from '../runtime/index.js';
import type { ActorRef, RestartPolicy } from '../runtime/index.js';
import type { LaneMethods } from '../runtime/lane.js';
import type { FileVaultOptions } from './local-vault.js';
import type { HelloOpening, HelloV2Opening, HelloV2Request, SealedBox, Vault, VouchV2Request } from './types.js';
import type { VaultWorkerInit } from './vault-worker.js';
import { openInstance, planInstance } from './instance.js';
import type { InstanceClaim } from './instance.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';

/** The calls every handshake makes take the actor's shared-memory lane (lib/runtime/lane.ts). */
const VAULT_LANE: LaneMethods = {
  open: { args: { box: 'bytes', nonce: 'bytes', peer: 'bytes' }, result: 'bytes' },
  seal: { args: { plaintext: 'bytes', prefix: 'bytes', peer: 'bytes' }, result: { nonce16: 'bytes', box: 'bytes' } },
  openHello: { args: { box: 'bytes', nonce: 'bytes', peer: 'bytes' }, result: { plaintext: 'bytes', sharedKey: 'bytes', nonce16: 'bytes' } },
  // The suite crosses as text (the lane carries bytes and text fields); the worker turns it back.
  openHelloV2: { args: { suite: 'text', clientEphemeralKey: 'bytes', transcript: 'bytes', box: 'bytes' }, result: { chainingKey: 'bytes' } },
  sealVouchV2: {
    args: { serverEphemeralKey: 'bytes', clientEphemeralKey: 'bytes', serverKey: 'bytes', transcript: 'bytes' },
    result: { nonce16: 'bytes', box: 'bytes' },
  },
};

export interface WorkerVaultOptions extends FileVaultOptions {
  /** Deadline of one vault call, ms (default 10 000). */
  callTimeoutMs?: number;
  restart?: Partial<RestartPolicy>;
}

export class WorkerVault implements Vault {
  private constructor(readonly actor: ActorRef, readonly publicKey: Uint8Array, private readonly claim: InstanceClaim) {}

  /** This copy's instance number (0 unless the key file has another; see lib/vault/instance.ts). */
  get instance(): number {
    return this.claim.instance;
  }

  [INSPECT](): string {
    return describe('WorkerVault', { publicKey: publicKeyFact(this.publicKey), instance: this.instance, actor: this.actor.name });
  }

  /**
   * @example
   * const vault = await WorkerVault.open({ secretKeyFile: '/etc/curvetun/id_curvetun', create: true });
   */
  static async open(options: FileVaultOptions & WorkerVaultOptions): Promise<WorkerVault> {
    // Resolve the backend here so an unknown or missing one fails in the caller, not the worker.
    const crypto = getBackend(options.crypto ?? 'auto').name as VaultWorkerInit['crypto'];
    const plan = planInstance(options.secretKeyFile, options.instance);
    const init: VaultWorkerInit = {
      secretKeyFile: options.secretKeyFile,
      create: options.create ?? false,
      crypto,
      ...(options.counterBlock ? { counterBlock: options.counterBlock } : {}),
      ...(options.cacheSize ? { cacheSize: options.cacheSize } : {}),
      // Planned here, claimed below once the key is known; the worker only marks its nonces with it.
      instance: plan.instance,
    };
    const actor = await startActor({
      name: 'vault',
      script: new URL('./vault-worker.js', import.meta.url),
      init,
      lane: VAULT_LANE,
      ...(options.callTimeoutMs ? { callTimeoutMs: options.callTimeoutMs } : {}),
      ...(options.restart ? { restart: options.restart } : {}),
    });
    try {
      const publicKey = await actor.call<Uint8Array>('publicKey');
      // Claimed from this thread, so that close() withdraws it whatever became of the worker.
      const claim = await openInstance(options.secretKeyFile, publicKey, plan);
      return new WorkerVault(actor, publicKey, claim);
    } catch (error) {
      await actor.stop();
      throw error;
    }
  }

  open(box: Uint8Array, nonce: Uint8Array, peer: Uint8Array): Promise<Uint8Array> {
    return this.actor.call('open', { box, nonce, peer });
  }

  seal(plaintext: Uint8Array, prefix: Uint8Array, peer: Uint8Array): Promise<SealedBox> {
    return this.actor.call('seal', { plaintext, prefix, peer });
  }

  safeNonce(): Promise<Uint8Array> {
    return this.actor.call('safeNonce');
  }

  openHello(box: Uint8Array, nonce: Uint8Array, clientEphemeralKey: Uint8Array): Promise<HelloOpening> {
    return this.actor.call('openHello', { box, nonce, peer: clientEphemeralKey });
  }

  openHelloV2(request: HelloV2Request): Promise<HelloV2Opening> {
    // The suite crosses as text: check it is the number 1 or 2 here, where its type is still known.
    if (!isSuite(request?.suite)) return Promise.reject(new CurvetunError('EINVAL', 'the suite must be 1 or 2'));
    return this.actor.call('openHelloV2', { ...request, suite: String(request.suite) });
  }

  sealVouchV2(request: VouchV2Request): Promise<SealedBox> {
    return this.actor.call('sealVouchV2', request);
  }

  /** Many safe nonces in one round trip (at most 100 000). */
  safeNonces(count: number): Promise<Uint8Array[]> {
    return this.actor.call('safeNonces', count, { timeoutMs: 60_000 });
  }

  async close(): Promise<void> {
    await this.actor.stop();
    await this.claim.release();
  }
}
