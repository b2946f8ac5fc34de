/**
 * The client half of the v2 handshake (PROTOCOL.md, "Protocol v2"): Hello → (Cookie) → Initiate →
 * (READY or REJECT). One vault call (the vouch, which needs the Cookie's ES and h2). Nothing is
 * sent after the Initiate until READY has authenticated (no early data), and `connect()` resolves
 * only on READY.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { Kem } from '../crypto/mlkem.js';
import { CurvetunError, RejectedError } from '../errors.js';
import { MAGIC_COOKIE } from '../protocol/index.js';
import {
  SUITE_HYBRID,
  V2_NONCE_HELLO,
  V2_NONCE_INITIATE,
  chainEphemeral,
  chainHello,
  chainMlkem,
  clientToServerSecret,
  cookieBoxKey,
  cookieHash,
  decodeCookieBoxV2,
  decodeCookieV2,
  decodeSessionMessage,
  encodeHelloV2,
  encodeInitiatePlaintextV2,
  encodeInitiateV2,
  hasMagic,
  helloBoxKey,
  helloHash,
  helloTranscriptPart,
  initialHash,
  initiateBoxKey,
  initiateHash,
  readyHash,
  serverToClientSecret,
} from '../protocol/v2/index.js';
import type { Suite } from '../protocol/v2/index.js';
import type { Vault } from '../vault/types.js';
import type { FrameIO, HandshakeResult } from './handshake.js';
import { ephemeralKemKeyPair, ephemeralKeyPair } from './handshake-ahead.js';
import { Direction, SessionV2 } from './session-v2.js';

export interface ClientHandshakeV2Options {
  backend: CryptoBackend;
  kem: Kem;
  vault: Vault;
  serverKey: Uint8Array;
  /** 2 (hybrid, the default) or 1 (`postQuantum: false`). */
  suite: Suite;
  /** The largest message we accept, announced in the Initiate. */
  maxMessageBytes: number;
}

const EMPTY = new Uint8Array(0);
const wipe = (...keys: (Uint8Array | null | undefined)[]) => keys.forEach((k) => k?.fill(0));

export async function clientHandshakeV2(io: FrameIO, options: ClientHandshakeV2Options): Promise<HandshakeResult<SessionV2>> {
  const { backend, kem, vault, serverKey, suite } = options;
  if (!vault.sealVouchV2) throw new CurvetunError('EINVAL', 'this vault adapter does not implement protocol v2 (sealVouchV2); connect with protocol: v1 or use another vault');
  const ephemeral = ephemeralKeyPair(backend);
  const kemPair = suite === SUITE_HYBRID ? ephemeralKemKeyPair(kem) : null;
  let ck1: Uint8Array | null = null;
  let ck3: Uint8Array | null = null;
  try {
    // Hello: h1 covers everything before the box, so the box goes in last.
    const h0 = initialHash(suite, serverKey);
    const hello = encodeHelloV2({ suite, clientEphemeralKey: ephemeral.publicKey, encapsulationKey: kemPair?.encapsulationKey ?? EMPTY, box: new Uint8Array(16) });
    const h1 = helloHash(h0, helloTranscriptPart(hello, suite));
    const dh1 = backend.scalarMult(ephemeral.secretKey, serverKey);
    ck1 = chainHello(h0, dh1, h1);
    wipe(dh1);
    const helloKey = helloBoxKey(ck1);
    hello.set(backend.secretbox(EMPTY, V2_NONCE_HELLO, helloKey), hello.length - 16);
    wipe(helloKey);
    io.send(hello);
    io.stage?.('v2 hello sent');

    // Cookie: only the holder of S's secret could seal it under a key from X(ECs, S).
    const cookiePayload = await io.nextFrame();
    if (hasMagic(cookiePayload, MAGIC_COOKIE)) {
      throw new CurvetunError('EHANDSHAKE', 'the server answered in v1 to a v2 Hello (it does not speak v2); no fallback is made');
    }
    const cookiePacket = decodeCookieV2(cookiePayload, suite);
    const cookieKey = cookieBoxKey(ck1);
    const inner = backend.secretboxOpen(cookiePacket.box, cookiePacket.nonce24, cookieKey);
    wipe(cookieKey);
    if (inner === null) {
      throw new CurvetunError('EAUTH', 'the v2 Cookie did not open with the expected server key (wrong server key or tampered packet)');
    }
    const { serverEphemeralKey, ciphertext, cookie } = decodeCookieBoxV2(suite, inner);
    io.stage?.('v2 cookie opened: the server holds its key');
    const h2 = cookieHash(h1, serverEphemeralKey, ciphertext);
    const sharedSecret = kemPair ? kem.decapsulate(ciphertext, kemPair.decapsulationKey) : null;
    const ck2 = chainMlkem(suite, ck1, sharedSecret, h2);
    wipe(sharedSecret, kemPair?.decapsulationKey, ck1);
    const dh2 = backend.scalarMult(ephemeral.secretKey, serverEphemeralKey);
    ck3 = chainEphemeral(ck2, dh2, h2);
    wipe(dh2, ck2, ephemeral.secretKey);

    // Initiate: our identity and the vouch, under a key only the two ends of this exchange hold.
    const vouch = await vault.sealVouchV2!({ serverEphemeralKey: new Uint8Array(serverEphemeralKey), clientEphemeralKey: ephemeral.publicKey, serverKey, transcript: h2 });
    const plaintext = encodeInitiatePlaintextV2({ clientKey: vault.publicKey, nonce16: vouch.nonce16, vouch: vouch.box, maxMessageBytes: options.maxMessageBytes });
    const initiateKey = initiateBoxKey(ck3);
    io.send(encodeInitiateV2({ cookie, box: backend.secretbox(plaintext, V2_NONCE_INITIATE, initiateKey) }));
    wipe(initiateKey);
    io.stage?.('v2 initiate sent');
    const h3 = initiateHash(h2, cookie, plaintext);
    const receive = Direction.serverToClient(serverToClientSecret(ck3, h3));

    // READY or REJECT: the server's first message under T_s2c, counter 0.
    // A frame too short to hold a box does not open (CryptoBackend.secretboxOpen: null).
    const opened = receive.open(await io.nextFrame(), backend);
    if (opened === null) {
      receive.wipe();
      throw new CurvetunError('EAUTH', "the server's first v2 message did not authenticate");
    }
    const message = decodeSessionMessage(opened);
    if (message.type === 'reject') {
      receive.wipe();
      const busy = message.reason === 'busy';
      throw new RejectedError(
        busy ? 'EBUSY' : 'EAUTH',
        busy ? `the server is busy; retry after ${message.retryAfterMs} ms` : `the server refused our key (${message.reason})`,
        message.reason,
        busy ? message.retryAfterMs : undefined,
      );
    }
    if (message.type !== 'ready') {
      receive.wipe();
      throw new CurvetunError('EPROTO', `the server's first v2 message must be READY or REJECT, got ${message.type}`);
    }
    const send = Direction.clientToServer(clientToServerSecret(ck3, readyHash(h3, opened)));
    io.stage?.('v2 ready: the server confirmed us');
    const session = new SessionV2(backend, { send, receive }, { peerMaxMessageBytes: message.maxMessageBytes, ourMaxMessageBytes: options.maxMessageBytes });
    return { session, peerKey: new Uint8Array(serverKey), postQuantum: suite === SUITE_HYBRID };
  } finally {
    wipe(ck1, ck3, ephemeral.secretKey, kemPair?.decapsulationKey);
  }
}
