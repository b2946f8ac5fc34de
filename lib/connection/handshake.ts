/**
 * The two halves of the handshake (PROTOCOL.md, "Handshake"), written as plain async functions
 * over a packet reader and a frame writer, so they know nothing of sockets or state machines.
 *
 * Client: Hello → (Cookie) → Vouch, then connected; the server never confirms.
 * Server: (Hello) → Cookie → (Vouch), then connected.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { CookieKeeper } from '../cookie/types.js';
import { CurvetunError } from '../errors.js';
import { keysEqual } from '../keys/text.js';
import {
  HELLO_COUNTER,
  HELLO_ZERO_BYTES,
  PREFIX_COOKIE,
  PREFIX_HELLO,
  PREFIX_INITIATE,
  PREFIX_VOUCH,
  VOUCH_COUNTER,
  decodeCookieBox,
  decodeVouchBox,
  encodeCookie,
  encodeCookieBox,
  encodeHello,
  encodeVouch,
  encodeVouchBox,
  longTermNonce,
  shortTermNonce,
} from '../protocol/index.js';
import type { Packet } from '../protocol/index.js';
import type { Verdict } from '../registry/types.js';
import type { Vault } from '../vault/types.js';
import type { DataSession } from './data-session.js';
import { Session } from './session.js';

export interface HandshakeIO {
  /** The next v1 packet from the peer (decoded); rejects when the connection ends or the step is aborted. */
  next(): Promise<Packet>;
  /** Queue a packet payload for the peer. */
  send(payload: Uint8Array): void;
  /** Told each stage as it is passed (a trace line when NODE_DEBUG=curvetun); names only, no bytes. */
  stage?(name: string): void;
}

/** The v2 halves and the version dispatch read frames undecoded (v2 packets, session frames). */
export interface FrameIO extends HandshakeIO {
  /** The next frame payload from the peer, as it came. */
  nextFrame(): Promise<Uint8Array>;
}

export interface HandshakeResult<S extends DataSession = DataSession> {
  session: S;
  /** The peer's long-term public key: the server's as expected, or the client's as vouched. */
  peerKey: Uint8Array;
  /** Whether the handshake mixed an ML-KEM secret into the keys (v2 suite 2); false when left out. */
  postQuantum?: boolean;
}

export interface ClientHandshakeOptions {
  backend: CryptoBackend;
  vault: Vault;
  serverKey: Uint8Array;
}

export async function clientHandshake(io: HandshakeIO, options: ClientHandshakeOptions): Promise<HandshakeResult<Session>> {
  const { backend, vault, serverKey } = options;
  const ephemeral = backend.keyPair();
  // One key serves the Hello box and the Cookie box: both are between S and EC.
  const helloKey = backend.beforenm(serverKey, ephemeral.secretKey);

  const helloBox = backend.secretbox(new Uint8Array(HELLO_ZERO_BYTES), shortTermNonce(PREFIX_HELLO, HELLO_COUNTER), helloKey);
  io.send(encodeHello({ clientEphemeralKey: ephemeral.publicKey, counter: HELLO_COUNTER, box: helloBox }));
  io.stage?.('hello sent');
  // The vouch depends only on EC and S: have the vault make it while the Cookie is on its way.
  const vouchPromise = vault.seal(ephemeral.publicKey, PREFIX_VOUCH, serverKey);
  vouchPromise.catch(() => undefined); // awaited below; never an unhandled rejection if we fail first

  const cookie = expect(await io.next(), 'cookie');
  io.stage?.('cookie received');
  const cookieInner = backend.secretboxOpen(cookie.box, longTermNonce(PREFIX_COOKIE, cookie.nonce16), helloKey);
  if (cookieInner === null) {
    throw new CurvetunError('EAUTH', 'the Cookie packet did not open with the expected server key (wrong server key or tampered packet)');
  }
  const { serverEphemeralKey, cookie: cookieBytes } = decodeCookieBox(cookieInner);
  io.stage?.('cookie opened: the server holds its key');

  const sessionKey = backend.beforenm(serverEphemeralKey, ephemeral.secretKey);
  const vouch = await vouchPromise;
  const inner = encodeVouchBox({ clientKey: vault.publicKey, nonce16: vouch.nonce16, vouch: vouch.box });
  const initiateBox = backend.secretbox(inner, shortTermNonce(PREFIX_INITIATE, VOUCH_COUNTER), sessionKey);
  io.send(encodeVouch({ cookie: cookieBytes, counter: VOUCH_COUNTER, box: initiateBox }));
  io.stage?.('vouch sent');

  return { session: new Session(backend, sessionKey, 'client'), peerKey: new Uint8Array(serverKey) };
}

export interface ServerHandshakeOptions {
  backend: CryptoBackend;
  vault: Vault;
  cookies: CookieKeeper;
  /** Decides whether the vouched client key may connect from this address. */
  authorize(clientKey: Uint8Array): Promise<Verdict>;
}

export async function serverHandshake(io: HandshakeIO, options: ServerHandshakeOptions): Promise<HandshakeResult<Session>> {
  const { backend, vault, cookies } = options;

  const hello = expect(await io.next(), 'hello');
  io.stage?.('hello received');
  if (hello.counter !== HELLO_COUNTER) {
    throw new CurvetunError('EPROTO', `a Hello must carry counter ${HELLO_COUNTER}, got ${hello.counter}`);
  }
  const clientEphemeralKey = new Uint8Array(hello.clientEphemeralKey);
  // The server keeps nothing between Cookie and Vouch: its ephemeral secret travels inside the cookie.
  // The vault (opening the Hello) and the cookie keeper (sealing the cookie) work at the same time;
  // the cookie is used only if the Hello opens.
  const ephemeral = backend.keyPair();
  const helloNonce = shortTermNonce(PREFIX_HELLO, HELLO_COUNTER);
  const cookieBytesPromise = cookies.seal(clientEphemeralKey, ephemeral.secretKey);
  cookieBytesPromise.catch(() => undefined); // awaited below; never an unhandled rejection if the Hello fails first
  let cookiePacket: Uint8Array;
  if (vault.openHello) {
    // One round trip: the vault hands back the Hello's key (the client holds it too) and a safe
    // nonce, and the Cookie box is sealed here.
    const [opened, cookieBytes] = await Promise.all([vault.openHello(hello.box, helloNonce, clientEphemeralKey), cookieBytesPromise]);
    try {
      checkHelloPlaintext(opened.plaintext);
      const cookieInner = encodeCookieBox(ephemeral.publicKey, cookieBytes);
      const box = backend.secretbox(cookieInner, longTermNonce(PREFIX_COOKIE, opened.nonce16), opened.sharedKey);
      cookiePacket = encodeCookie({ nonce16: opened.nonce16, box });
    } finally {
      opened.sharedKey.fill(0);
    }
  } else {
    // Opening the Hello proves the client knows our public key.
    const [zeros, cookieBytes] = await Promise.all([vault.open(hello.box, helloNonce, clientEphemeralKey), cookieBytesPromise]);
    checkHelloPlaintext(zeros);
    const cookieInner = encodeCookieBox(ephemeral.publicKey, cookieBytes);
    const sealed = await vault.seal(cookieInner, PREFIX_COOKIE, clientEphemeralKey);
    cookiePacket = encodeCookie({ nonce16: sealed.nonce16, box: sealed.box });
  }
  io.stage?.('hello opened: the client knows our key');
  io.send(cookiePacket);
  io.stage?.('cookie sent');

  const vouch = expect(await io.next(), 'vouch');
  io.stage?.('vouch received');
  if (vouch.counter !== VOUCH_COUNTER) {
    throw new CurvetunError('EPROTO', `a Vouch must carry counter ${VOUCH_COUNTER}, got ${vouch.counter}`);
  }
  // Opening does not mark the cookie used (a cookie already admitted fails here, EAUTH); it is
  // admitted only once everything below has verified, so peers with no allowed key cannot fill
  // the replay guard.
  const opened = await cookies.open(vouch.cookie);
  if (!keysEqual(opened.clientEphemeralPublicKey, clientEphemeralKey)) {
    throw new CurvetunError('EAUTH', 'the cookie was issued for another Hello');
  }
  io.stage?.('cookie opened and admitted once');
  const sessionKey = backend.beforenm(clientEphemeralKey, opened.serverEphemeralSecretKey);
  const inner = backend.secretboxOpen(vouch.box, shortTermNonce(PREFIX_INITIATE, VOUCH_COUNTER), sessionKey);
  if (inner === null) {
    throw new CurvetunError('EAUTH', 'the Vouch box did not authenticate');
  }
  io.stage?.('vouch box opened');
  const vouched = decodeVouchBox(inner);
  const clientKey = new Uint8Array(vouched.clientKey);
  const vouchNonce = longTermNonce(PREFIX_VOUCH, vouched.nonce16);

  // Independent checks of one step: ask the registry and the vault at once.
  const [verdict, vouchedKey] = await Promise.all([
    options.authorize(clientKey),
    vault.open(vouched.vouch, vouchNonce, clientKey),
  ]);
  if (!verdict.allowed) {
    throw new CurvetunError('EAUTH', `client key refused: ${verdict.reason}`);
  }
  if (!keysEqual(vouchedKey, clientEphemeralKey)) {
    throw new CurvetunError('EAUTH', 'the client key did not vouch for this connection');
  }
  io.stage?.('client key allowed and vouched for this connection');
  // Check and insert in one step of the keeper: of two connections replaying one Vouch, one wins.
  await cookies.admit(vouch.cookie);
  return { session: new Session(backend, sessionKey, 'server'), peerKey: clientKey };
}

function checkHelloPlaintext(plaintext: Uint8Array): void {
  if (plaintext.length !== HELLO_ZERO_BYTES || plaintext.some((b) => b !== 0)) {
    throw new CurvetunError('EPROTO', 'the Hello box must hold 64 zero bytes');
  }
}

function expect<T extends Packet['type']>(packet: Packet, type: T): Extract<Packet, { type: T }> {
  if (packet.type !== type) {
    throw new CurvetunError('EPROTO', `expected a ${type} packet, got a ${packet.type} packet`);
  }
  return packet as Extract<Packet, { type: T }>;
}

