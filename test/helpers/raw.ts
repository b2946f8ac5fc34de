/**
 * A hand-driven client for hostile tests: real TCP and the real client handshake code, but the
 * test decides what actually goes on the wire (and can stop at any handshake step).
 */
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import type { CryptoBackend, KeyPair } from '../../lib/crypto/backend.js';
import { clientHandshake } from '../../lib/connection/handshake.js';
import type { Session } from '../../lib/connection/session.js';
import {
  FrameDecoder,
  HELLO_COUNTER,
  PREFIX_COOKIE,
  PREFIX_HELLO,
  PREFIX_INITIATE,
  VOUCH_COUNTER,
  decodeCookieBox,
  decodePacket,
  encodeFrame,
  encodeVouchBox,
  encodeHello,
  encodeVouch,
  longTermNonce,
  shortTermNonce,
} from '../../lib/protocol/index.js';
import type { Packet } from '../../lib/protocol/index.js';
import type { SealedBox, Vault } from '../../lib/vault/types.js';

export interface RawConnection {
  tcp: Socket;
  /** Resolves when TCP has closed (either side); never rejects. */
  closed: Promise<void>;
  /** Frames received and not yet taken by `next()`. */
  next(timeoutMs?: number): Promise<Uint8Array>;
}

/** Open a plain TCP connection to 127.0.0.1:`port`, optionally from another loopback address. */
export async function rawConnect(port: number, localAddress?: string): Promise<RawConnection> {
  const tcp = tcpConnect({ host: '127.0.0.1', port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
  const closed = new Promise<void>((resolve) => tcp.once('close', () => resolve()));
  tcp.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    tcp.once('connect', resolve);
    tcp.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const frames: Uint8Array[] = [];
  let waiter: ((f: Uint8Array | null) => void) | null = null;
  tcp.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      if (waiter) {
        const w = waiter;
        waiter = null;
        w(f);
      } else frames.push(f);
    }
  });
  void closed.then(() => waiter?.(null));
  return {
    tcp,
    closed,
    next(timeoutMs = 5_000) {
      const f = frames.shift();
      if (f) return Promise.resolve(f);
      if (tcp.destroyed) return Promise.reject(new Error('closed'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
        waiter = (frame) => {
          clearTimeout(timer);
          if (frame) resolve(frame);
          else reject(new Error('closed'));
        };
      });
    },
  };
}

export interface RawHandshake extends RawConnection {
  hello: Uint8Array;
  cookie: Uint8Array;
  /** The valid Vouch payload the real client made (sent only if `sendVouch`). */
  vouch: Uint8Array;
  session: Session;
}

/**
 * Run the real client handshake over a raw connection. With `sendVouch: false` it stops after
 * receiving the Cookie: the server is then waiting for a Vouch, and the test sends what it likes.
 */
export async function rawHandshake(
  port: number,
  opts: { backend: CryptoBackend; vault: Vault; serverKey: Uint8Array; sendVouch: boolean },
): Promise<RawHandshake> {
  const conn = await rawConnect(port);
  const sent: Uint8Array[] = [];
  let cookie: Uint8Array = new Uint8Array(0);
  const result = await clientHandshake(
    {
      async next(): Promise<Packet> {
        cookie = await conn.next();
        return decodePacket(cookie);
      },
      send(payload) {
        sent.push(payload);
        if (sent.length === 1 || opts.sendVouch) conn.tcp.write(encodeFrame(payload));
      },
    },
    { backend: opts.backend, vault: opts.vault, serverKey: opts.serverKey },
  );
  return { ...conn, hello: sent[0]!, vouch: sent[1]!, cookie, session: result.session };
}

/** A client made by hand after its Hello: the test builds the Initiate itself. */
export interface HandClient extends RawConnection {
  ephemeral: KeyPair;
  /** beforenm(S, ECs): the key of this connection's Hello and Cookie boxes. */
  helloKey: Uint8Array;
  /** Wait for the Cookie and open it: the server's ephemeral key and the opaque cookie K. */
  cookie(): Promise<{ serverEphemeralKey: Uint8Array; cookie: Uint8Array }>;
}

/**
 * Open a connection and send a Hello boxed for `serverKey` from a fresh ephemeral key. The box
 * holds `plaintext` (default: the 64 zero bytes the protocol wants), so a test can send a Hello
 * that authenticates but says the wrong thing.
 */
export async function handHello(
  port: number,
  opts: { backend: CryptoBackend; serverKey: Uint8Array; plaintext?: Uint8Array; counter?: number },
): Promise<HandClient> {
  const { backend } = opts;
  const conn = await rawConnect(port);
  const ephemeral = backend.keyPair();
  const helloKey = backend.beforenm(opts.serverKey, ephemeral.secretKey);
  const box = backend.secretbox(opts.plaintext ?? new Uint8Array(64), shortTermNonce(PREFIX_HELLO, HELLO_COUNTER), helloKey);
  // The box is always made with the protocol's nonce; `counter` changes only the packet's field.
  conn.tcp.write(encodeFrame(encodeHello({ clientEphemeralKey: ephemeral.publicKey, counter: opts.counter ?? HELLO_COUNTER, box })));
  return {
    ...conn,
    ephemeral,
    helloKey,
    async cookie() {
      const packet = decodePacket(await conn.next());
      if (packet.type !== 'cookie') throw new Error(`expected a Cookie, got a ${packet.type}`);
      const inner = backend.secretboxOpen(packet.box, longTermNonce(PREFIX_COOKIE, packet.nonce16), helloKey);
      if (inner === null) throw new Error('the Cookie did not open');
      const { serverEphemeralKey, cookie } = decodeCookieBox(inner);
      return { serverEphemeralKey: new Uint8Array(serverEphemeralKey), cookie: new Uint8Array(cookie) };
    },
  };
}

/**
 * The Vouch (Initiate) payload `K · N=1 · box(C · v16 · V)`, boxed from `ephemeral` to
 * `serverEphemeralKey`: every part is given by the test, so it can pair parts that do not belong.
 */
export function initiatePayload(opts: {
  backend: CryptoBackend;
  ephemeral: KeyPair;
  serverEphemeralKey: Uint8Array;
  cookie: Uint8Array;
  clientKey: Uint8Array;
  vouch: SealedBox;
  /** The packet's counter field (default 1); the box is made with the protocol's nonce regardless. */
  counter?: number;
}): Uint8Array {
  const { backend } = opts;
  const inner = encodeVouchBox({ clientKey: opts.clientKey, nonce16: opts.vouch.nonce16, vouch: opts.vouch.box });
  const key = backend.beforenm(opts.serverEphemeralKey, opts.ephemeral.secretKey);
  const box = backend.secretbox(inner, shortTermNonce(PREFIX_INITIATE, VOUCH_COUNTER), key);
  return encodeVouch({ cookie: opts.cookie, counter: opts.counter ?? VOUCH_COUNTER, box });
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
