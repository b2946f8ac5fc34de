/**
 * A vault that runs a VaultCore on the calling thread: the part LocalVault and SodiumVault share
 * (forwarding to the core, refusing every call with `ECLOSED` once closed). An adapter subclass
 * only decides where the key lives (VaultCoreOptions.withSecret) and what `release` wipes.
 */
import { CurvetunError } from '../errors.js';
import type { VaultCore } from './core.js';
import type { InstanceClaim } from './instance.js';
import type { HelloOpening, HelloV2Opening, HelloV2Request, SealedBox, Vault, VouchV2Request } from './types.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';

export abstract class CoreVault implements Vault {
  private closed = false;

  // The keys are in the core's truly private fields; this class has none, so it can be wrapped in a Proxy.
  protected constructor(
    private readonly core: VaultCore,
    /** The claim on this key's instance number, withdrawn at close (none for in-memory keys). */
    private readonly claim: InstanceClaim | null = null,
  ) {}

  /** This copy's instance number (0 unless the key file has another; see instance.ts). */
  get instance(): number {
    return this.claim?.instance ?? 0;
  }

  get publicKey(): Uint8Array {
    return this.core.publicKey;
  }

  /** Facts only: the core holds the keys. */
  [INSPECT](): string {
    return describe(this.constructor.name, { publicKey: publicKeyFact(this.publicKey), closed: this.closed });
  }

  async open(box: Uint8Array, nonce: Uint8Array, peerPublicKey: Uint8Array): Promise<Uint8Array> {
    return this.live().open(box, nonce, peerPublicKey);
  }

  async seal(plaintext: Uint8Array, noncePrefix: Uint8Array, peerPublicKey: Uint8Array): Promise<SealedBox> {
    return this.live().seal(plaintext, noncePrefix, peerPublicKey);
  }

  async safeNonce(): Promise<Uint8Array> {
    return this.live().safeNonce();
  }

  async openHello(box: Uint8Array, nonce: Uint8Array, clientEphemeralKey: Uint8Array): Promise<HelloOpening> {
    return this.live().openHello(box, nonce, clientEphemeralKey);
  }

  async openHelloV2(request: HelloV2Request): Promise<HelloV2Opening> {
    return this.live().openHelloV2(request);
  }

  async sealVouchV2(request: VouchV2Request): Promise<SealedBox> {
    return this.live().sealVouchV2(request);
  }

  /** Idempotent: the first call releases what the adapter holds. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
    await this.claim?.release();
  }

  /** Wipe or free what the adapter holds; called once, by the first `close()`. */
  protected release(): void {}

  private live(): VaultCore {
    if (this.closed) throw new CurvetunError('ECLOSED', 'the vault is closed');
    return this.core;
  }
}
