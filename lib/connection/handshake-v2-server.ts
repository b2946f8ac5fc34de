/**
 * The server half of the v2 handshake (PROTOCOL.md, "Protocol v2"): (Hello) → Cookie → (Initiate)
 * → READY or REJECT. One vault call (`openHelloV2`); the vouch is opened here with the server's
 * ephemeral secret from the cookie. Between Cookie and Initiate the server keeps no secret: ESs,
 * ck3 and h2 travel in the cookie (it keeps EC, public, to refuse an Initiate moved over from
 * another connection).
 *
 * The Initiate is checked in rule 4's order: cookie opens and is unused → Initiate box opens →
 * vouch opens → the vouch's EC, S and h2 equal the cookie's. A failure up to there closes without a
 * word (nobody learns which keys are registered). Then address and registry, the room to accept
 * and the replay guard; a failure there is answered by an authenticated REJECT with its reason.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { Kem } from '../crypto/mlkem.js';
import type { CookieKeeper } from '../cookie/types.js';
import { CurvetunError, RejectedError } from '../errors.js';
import type { RejectReasonText } from '../errors.js';
import { keysEqual } from '../keys/text.js';
import { longTermNonce } from '../protocol/index.js';
import {
  NONCE_BYTES,
  SUITE_HYBRID,
  V2_NONCE_INITIATE,
  V2_PREFIX_VOUCH,
  V2_READY_RANDOM_BYTES,
  chainEphemeral,
  chainMlkem,
  clientToServerSecret,
  cookieBoxKey,
  cookieHash,
  decodeHelloV2,
  decodeInitiatePlaintextV2,
  decodeInitiateV2,
  encodeCookieBoxV2,
  encodeCookieV2,
  encodeReady,
  encodeReject,
  encodeVouchPlaintextV2,
  helloHash,
  helloTranscriptPart,
  initialHash,
  initiateBoxKey,
  initiateHash,
  readyHash,
  serverToClientSecret,
} from '../protocol/v2/index.js';
import type { Suite } from '../protocol/v2/index.js';
import type { Verdict } from '../registry/types.js';
import type { Vault } from '../vault/types.js';
import type { FrameIO, HandshakeResult } from './handshake.js';
import { Direction, SessionV2 } from './session-v2.js';

export interface ServerHandshakeV2Options {
  backend: CryptoBackend;
  kem: Kem;
  vault: Vault;
  cookies: CookieKeeper;
  /** The suites this listener answers (`postQuantum`: true → 1 and 2, false → 1, 'require' → 2). */
  suites: readonly Suite[];
  /** The largest message we accept, announced in READY. */
  maxMessageBytes: number;
  /** May this vouched client key connect (registry, address)? Asked only once the vouch verified. */
  authorize(clientKey: Uint8Array): Promise<Verdict>;
  /** Whether one more connection can be taken now; when not, REJECT busy. */
  hasRoom(): boolean;
  /** The retry-after hint of a busy REJECT, ms. */
  busyRetryAfterMs: number;
}

const EMPTY = new Uint8Array(0);
const wipe = (...keys: (Uint8Array | null | undefined)[]) => keys.forEach((k) => k?.fill(0));

/** Close without a word: the reason goes to the listener's handshakeError event only. */
const silent = (code: 'EAUTH' | 'EPROTO', message: string) => new CurvetunError(code, message);

export async function serverHandshakeV2(io: FrameIO, helloPayload: Uint8Array, options: ServerHandshakeV2Options): Promise<HandshakeResult<SessionV2>> {
  const { backend, kem, vault, cookies } = options;
  if (!vault.openHelloV2) throw new CurvetunError('EINVAL', 'the vault adapter does not implement protocol v2 (openHelloV2)');
  const hello = decodeHelloV2(helloPayload);
  const { suite } = hello;
  if (!options.suites.includes(suite)) throw silent('EPROTO', `v2 suite ${suite} is not accepted by this listener`);
  io.stage?.('v2 hello received');
  const clientEphemeralKey = new Uint8Array(hello.clientEphemeralKey);
  const h1 = helloHash(initialHash(suite, vault.publicKey), helloTranscriptPart(helloPayload, suite));
  // The vault opens the Hello while this thread makes the ephemeral key and the ML-KEM ciphertext.
  const opening = vault.openHelloV2({ suite, clientEphemeralKey, transcript: h1, box: new Uint8Array(hello.box) });
  opening.catch(() => undefined); // awaited below
  const ephemeral = backend.keyPair();
  let ck1: Uint8Array | null = null;
  let ck3: Uint8Array | null = null;
  let sharedSecret: Uint8Array | null = null;
  try {
    const encapsulated = suite === SUITE_HYBRID ? kem.encapsulate(new Uint8Array(hello.encapsulationKey)) : null;
    sharedSecret = encapsulated?.sharedSecret ?? null;
    const ciphertext = encapsulated?.ciphertext ?? EMPTY;
    ck1 = (await opening).chainingKey;
    io.stage?.('v2 hello opened: the client knows our key');
    const h2 = cookieHash(h1, ephemeral.publicKey, ciphertext);
    const ck2 = chainMlkem(suite, ck1, sharedSecret, h2);
    const dh2 = backend.scalarMult(ephemeral.secretKey, clientEphemeralKey);
    ck3 = chainEphemeral(ck2, dh2, h2);
    wipe(ck2, dh2, sharedSecret);
    const cookie = await cookies.sealV2({ clientEphemeralKey, serverEphemeralSecretKey: ephemeral.secretKey, chainingKey: ck3, transcript: h2 });
    const nonce24 = backend.randomBytes(NONCE_BYTES);
    const cookieKey = cookieBoxKey(ck1);
    const box = backend.secretbox(encodeCookieBoxV2(suite, { serverEphemeralKey: ephemeral.publicKey, ciphertext, cookie }), nonce24, cookieKey);
    wipe(cookieKey);
    io.send(encodeCookieV2(suite, { nonce24, box }));
    io.stage?.('v2 cookie sent');
  } finally {
    // Stateless from here: what the Initiate needs comes back inside the cookie.
    wipe(ck1, ck3, sharedSecret, ephemeral.secretKey);
  }

  const initiate = decodeInitiateV2(await io.nextFrame());
  io.stage?.('v2 initiate received');
  const secrets = await cookies.openV2(new Uint8Array(initiate.cookie));
  try {
    if (!keysEqual(secrets.clientEphemeralKey, clientEphemeralKey)) throw silent('EAUTH', 'the cookie was issued for another connection');
    const initiateKey = initiateBoxKey(secrets.chainingKey);
    const plaintext = backend.secretboxOpen(initiate.box, V2_NONCE_INITIATE, initiateKey);
    wipe(initiateKey);
    if (plaintext === null) throw silent('EAUTH', 'the v2 Initiate box did not authenticate');
    const fields = decodeInitiatePlaintextV2(plaintext);
    const clientKey = new Uint8Array(fields.clientKey);
    const vouchKey = backend.beforenm(clientKey, secrets.serverEphemeralSecretKey);
    const vouched = backend.secretboxOpen(fields.vouch, longTermNonce(V2_PREFIX_VOUCH, fields.nonce16), vouchKey);
    wipe(vouchKey);
    if (vouched === null) throw silent('EAUTH', 'the vouch did not open with the client key it names');
    if (!keysEqual(vouched, encodeVouchPlaintextV2(secrets.clientEphemeralKey, vault.publicKey, secrets.transcript))) {
      throw silent('EAUTH', 'the vouch is for another handshake');
    }
    io.stage?.('v2 vouch verified: the client holds its key');

    // From here the client is who it says: it is told the outcome, authenticated.
    const h3 = initiateHash(secrets.transcript, initiate.cookie, plaintext);
    const send = Direction.serverToClient(serverToClientSecret(secrets.chainingKey, h3));
    const refusal = await refusalOf(clientKey, initiate.cookie, options);
    if (refusal) {
      io.send(send.sealPayload(encodeReject(refusal.reason, refusal.retryAfterMs), backend));
      send.wipe();
      io.stage?.(`v2 reject sent: ${refusal.reason}`);
      throw new RejectedError(refusal.reason === 'busy' ? 'EBUSY' : 'EAUTH', refusal.message, refusal.reason, refusal.retryAfterMs);
    }
    const ready = encodeReady(backend.randomBytes(V2_READY_RANDOM_BYTES), options.maxMessageBytes);
    io.send(send.sealPayload(ready, backend));
    const receive = Direction.clientToServer(clientToServerSecret(secrets.chainingKey, readyHash(h3, ready)));
    io.stage?.('v2 ready sent');
    const session = new SessionV2(backend, { send, receive }, { peerMaxMessageBytes: fields.maxMessageBytes, ourMaxMessageBytes: options.maxMessageBytes });
    return { session, peerKey: clientKey, postQuantum: suite === SUITE_HYBRID };
  } finally {
    wipe(secrets.serverEphemeralSecretKey, secrets.chainingKey);
  }
}

interface Refusal {
  reason: RejectReasonText;
  message: string;
  retryAfterMs?: number;
}

/** Registry and address, then room, then the replay guard (last: only a handshake that would be accepted is remembered). */
async function refusalOf(clientKey: Uint8Array, cookie: Uint8Array, options: ServerHandshakeV2Options): Promise<Refusal | null> {
  const verdict = await options.authorize(clientKey);
  if (!verdict.allowed) return { reason: verdict.refusal ?? 'key-not-allowed', message: `client key refused: ${verdict.reason}` };
  if (!options.hasRoom()) return busy(options, 'no room for another connection (the accept backlog is full)');
  try {
    await options.cookies.admit(new Uint8Array(cookie));
  } catch (error) {
    const e = error as CurvetunError;
    if (e.code === 'EBUSY') return busy(options, e.message);
    if (e.code === 'EAUTH') return { reason: 'replay', message: e.message };
    throw error;
  }
  return null;
}

function busy(options: ServerHandshakeV2Options, message: string): Refusal {
  return { reason: 'busy', message, retryAfterMs: options.busyRetryAfterMs };
}
