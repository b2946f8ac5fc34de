/**
 * The vault worker: loads (or makes) the key file itself, so the secret key exists only in this
 * thread, and answers open / seal / safeNonce.
 */
import { getBackend } from '../crypto/index.js';
import type { BackendChoice } from '../crypto/index.js';
import { loadIdentity } from '../keys/generate.js';
import { serveActor } from '../runtime/serve.js';
import { FileCounter } from './counter.js';
import { VaultCore } from './core.js';

export interface VaultWorkerInit {
  secretKeyFile: string;
  create: boolean;
  counterBlock?: number;
  cacheSize?: number;
  /** This copy's instance number, as its owner planned and claimed it (WorkerVault.open). */
  instance: number;
  crypto: BackendChoice;
}

serveActor(async (init: VaultWorkerInit, { restarts }) => {
  const backend = getBackend(init.crypto);
  // Create only on the first start: after a restart, a missing key file is an error, not a cue
  // to become someone else behind the caller's back.
  const identity = loadIdentity(init.secretKeyFile, backend, init.create && restarts === 0);
  const { secretKey } = identity;
  const { instance } = init;
  const counter = new FileCounter(`${init.secretKeyFile}.counter`, init.counterBlock);
  // The first block is reserved before the vault reports ready: the first handshake need not wait.
  await counter.ready();
  const core = new VaultCore({
    backend,
    publicKey: identity.publicKey,
    scrambleKey: identity.scrambleKey,
    counter,
    instance,
    withSecret: (fn) => fn(secretKey),
    ...(init.cacheSize ? { cacheSize: init.cacheSize } : {}),
  });
  return {
    publicKey: () => core.publicKey,
    instance: () => instance,
    open: ({ box, nonce, peer }: { box: Uint8Array; nonce: Uint8Array; peer: Uint8Array }) => core.open(box, nonce, peer),
    seal: ({ plaintext, prefix, peer }: { plaintext: Uint8Array; prefix: Uint8Array; peer: Uint8Array }) => core.seal(plaintext, prefix, peer),
    safeNonce: () => core.safeNonce(),
    openHello: ({ box, nonce, peer }: { box: Uint8Array; nonce: Uint8Array; peer: Uint8Array }) => core.openHello(box, nonce, peer),
    openHelloV2: (request: Record<string, unknown> | null) =>
      core.openHelloV2({ ...request, suite: typeof request?.suite === 'string' ? Number(request.suite) : request?.suite }),
    sealVouchV2: (request: unknown) => core.sealVouchV2(request),
    safeNonces: async (count: number) => {
      const nonces: Uint8Array[] = [];
      for (let i = 0; i < Math.min(Math.max(0, count | 0), 100_000); i++) {
        const nonce = core.safeNonce();
        nonces.push(nonce instanceof Promise ? await nonce : nonce); // await only when a reservation is written
      }
      return nonces;
    },
  };
});
