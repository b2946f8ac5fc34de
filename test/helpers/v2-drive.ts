/**
 * The implementation's v2 handshake on fixed seeds: the real client and server halves
 * (lib/connection/handshake-v2-*.ts), a real VaultCore on each side and a real CookieCore, joined
 * by an in-memory frame pipe, with every source of randomness replaced by the vector's inputs.
 * Returns the same fields as the reference (those the implementation exposes: every packet and
 * frame), so the vector test can hold both against the stored JSON.
 */
import type { CryptoBackend } from '../../lib/crypto/backend.js';
import { getBackend } from '../../lib/crypto/index.js';
import { getKem } from '../../lib/crypto/mlkem.js';
import type { Kem } from '../../lib/crypto/mlkem.js';
import { CookieCore } from '../../lib/cookie/core.js';
import type { CookieKeeper } from '../../lib/cookie/types.js';
import type { FrameIO } from '../../lib/connection/handshake.js';
import { clientHandshakeV2 } from '../../lib/connection/handshake-v2-client.js';
import { serverHandshakeV2 } from '../../lib/connection/handshake-v2-server.js';
import { encodeClose, encodeControl } from '../../lib/protocol/v2/index.js';
import { MemoryCounter } from '../../lib/vault/counter.js';
import { VaultCore } from '../../lib/vault/core.js';
import type { Vault } from '../../lib/vault/types.js';
import type { SessionV2 } from '../../lib/connection/session-v2.js';
import type { VectorInputs } from './v2-reference.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nacl = getBackend('tweetnacl');

/** tweetnacl, but key pairs and random bytes come from the given lists, in order, by size. */
function fixedBackend(secrets: Uint8Array[], random: Record<number, Uint8Array[]>): CryptoBackend {
  return {
    ...nacl,
    keyPair() {
      const secretKey = secrets.shift();
      // Past the list: the stock refill of handshake-ahead.ts (made for a next handshake that never
      // comes). A fresh pair; were the vector's handshake to use one, its bytes would not match.
      if (!secretKey) return nacl.keyPair();
      return { secretKey: secretKey.slice(), publicKey: nacl.publicKeyOf(secretKey) };
    },
    randomBytes(length: number) {
      const next = random[length]?.shift();
      if (!next) throw new Error(`the vector has no more random ${length}-byte values`);
      return next.slice();
    },
  };
}

function fixedKem(seed: Uint8Array, message: Uint8Array): Kem {
  const kem = getKem();
  return { name: 'fixed', keyPair: () => kem.keyPair(seed), encapsulate: (ek) => kem.encapsulate(ek, message), decapsulate: (ct, dk) => kem.decapsulate(ct, dk) };
}

function vaultOf(core: VaultCore): Vault {
  const unused = () => Promise.reject(new Error('not a v2 operation'));
  return {
    publicKey: core.publicKey,
    open: unused,
    seal: unused,
    openHelloV2: async (r) => core.openHelloV2(r),
    sealVouchV2: async (r) => core.sealVouchV2(r),
    close: async () => undefined,
  };
}

function keeperOf(core: CookieCore): CookieKeeper {
  const unused = () => Promise.reject(new Error('not a v2 operation'));
  return { seal: unused, open: unused, sealV2: async (s) => core.sealV2(s), openV2: async (c) => core.openV2(c), admit: async (c) => core.admit(c), close: async () => undefined };
}

/** Two FrameIOs joined back to back; `log` keeps every payload in the order sent. */
function pipe(log: { from: 'client' | 'server'; payload: Uint8Array }[]): { client: FrameIO; server: FrameIO } {
  const make = (me: 'client' | 'server', inbox: Uint8Array[], waiting: ((p: Uint8Array) => void)[], peer: { inbox: Uint8Array[]; waiting: ((p: Uint8Array) => void)[] }): FrameIO => ({
    next: () => Promise.reject(new Error('v1 read in a v2 run')),
    nextFrame: () => new Promise((resolve) => (inbox.length > 0 ? resolve(inbox.shift()!) : waiting.push(resolve))),
    send: (payload) => {
      log.push({ from: me, payload: payload.slice() });
      const reader = peer.waiting.shift();
      if (reader) reader(payload.slice());
      else peer.inbox.push(payload.slice());
    },
  });
  const c = { inbox: [] as Uint8Array[], waiting: [] as ((p: Uint8Array) => void)[] };
  const s = { inbox: [] as Uint8Array[], waiting: [] as ((p: Uint8Array) => void)[] };
  return { client: make('client', c.inbox, c.waiting, s), server: make('server', s.inbox, s.waiting, c) };
}

/** The implementation's handshake on the vector's seeds: both sessions and every handshake payload in order. */
export async function vectorHandshake(i: VectorInputs, scrambleKey: Uint8Array, random8: Uint8Array): Promise<{ client: SessionV2; server: SessionV2; packets: string[]; clientPeerKey: string; serverPeerKey: string }> {
  const clientVault = new VaultCore({
    backend: fixedBackend([], { 8: [random8.slice()] }),
    publicKey: nacl.publicKeyOf(hex(i.clientSecret)),
    scrambleKey,
    counter: new MemoryCounter(),
    withSecret: (fn) => fn(hex(i.clientSecret)),
  });
  const serverVault = new VaultCore({
    backend: nacl,
    publicKey: nacl.publicKeyOf(hex(i.serverSecret)),
    scrambleKey,
    counter: new MemoryCounter(),
    withSecret: (fn) => fn(hex(i.serverSecret)),
  });
  const cookies = new CookieCore(fixedBackend([], { 32: [hex(i.minuteKey)], 16: [hex(i.k16)] }), { periodMs: 60_000 }, () => i.expiry - 120_000);
  const log: { from: 'client' | 'server'; payload: Uint8Array }[] = [];
  const io = pipe(log);
  const kem = fixedKem(hex(i.mlkemSeed), hex(i.mlkemMessage));
  const [client, server] = await Promise.all([
    clientHandshakeV2(io.client, {
      backend: fixedBackend([hex(i.clientEphemeralSecret)], {}),
      kem,
      vault: vaultOf(clientVault),
      serverKey: serverVault.publicKey,
      suite: i.suite,
      maxMessageBytes: i.clientMaxMessageBytes,
    }),
    serverHandshakeV2(io.server, await io.server.nextFrame(), {
      backend: fixedBackend([hex(i.serverEphemeralSecret)], { 24: [hex(i.cookieNonce24)], 32: [hex(i.readyRandom)] }),
      kem,
      vault: vaultOf(serverVault),
      cookies: keeperOf(cookies),
      suites: [1, 2],
      maxMessageBytes: i.serverMaxMessageBytes,
      authorize: async () => ({ allowed: true }),
      hasRoom: () => true,
      busyRetryAfterMs: 1000,
    }),
  ]);
  return { client: client.session, server: server.session, packets: log.map((l) => toHex(l.payload)), clientPeerKey: toHex(client.peerKey), serverPeerKey: toHex(server.peerKey) };
}

/** A frame's payload (what the vectors store): the frame without its length header. */
export const payloadOf = (frame: Uint8Array) => frame.subarray(2);
const text = (t: string) => new Uint8Array(Buffer.from(t, 'latin1'));

/**
 * Everything the implementation produces for the vector: packets and frames. The main line is one
 * connection up to the server's CLOSE; the server's key update is the other ending of the same
 * connection (a second run of the same deterministic handshake, where the server sends KEY_UPDATE
 * and DATA in place of its CLOSE).
 */
export async function implementationVector(i: VectorInputs, scrambleKey: Uint8Array, random8: Uint8Array): Promise<Record<string, string>> {
  const { client: c, server: s, packets, clientPeerKey, serverPeerKey } = await vectorHandshake(i, scrambleKey, random8);
  const payload = (frame: Uint8Array) => toHex(payloadOf(frame));
  const clientData = c.seal(text(i.clientMessage));
  const serverData = s.seal(text(i.serverMessage));
  const clientKeyUpdate = c.sealKeyUpdate();
  const clientDataAfterUpdate = c.seal(text(i.clientMessageAfterUpdate));
  const clientEnd = c.sealControl(encodeControl('end'));
  const serverClose = s.sealControl(encodeClose(i.closeCode, i.closeReason));
  // The other side opens what it can today (END and CLOSE behaviour is part 2 of v2).
  const opened = [s.receive(clientData.subarray(2)), c.receive(serverData.subarray(2)), s.receive(clientKeyUpdate.subarray(2)), s.receive(clientDataAfterUpdate.subarray(2))];
  const branch = (await vectorHandshake(i, scrambleKey, random8)).server;
  const branchServerData = branch.seal(text(i.serverMessage));
  const serverKeyUpdate = branch.sealKeyUpdate();
  const serverDataAfterUpdate = branch.seal(text(i.serverMessageAfterUpdate));
  const [hello, cookie, initiate, ready] = packets;
  return {
    hello: hello!,
    cookie: cookie!,
    initiate: initiate!,
    ready: ready!,
    clientData: payload(clientData),
    serverData: payload(serverData),
    clientKeyUpdate: payload(clientKeyUpdate),
    clientDataAfterUpdate: payload(clientDataAfterUpdate),
    clientEnd: payload(clientEnd),
    serverClose: payload(serverClose),
    branchServerData: payload(branchServerData),
    serverKeyUpdate: payload(serverKeyUpdate),
    serverDataAfterUpdate: payload(serverDataAfterUpdate),
    opened: opened.map((m) => (m === null ? 'control' : Buffer.from(m).toString('latin1'))).join('|'),
    clientPeerKey,
    serverPeerKey,
  };
}

/** The v16 the client's vault makes first with this scramble key and random8 (counter 0). */
export function firstSafeNonce(scrambleKey: Uint8Array, random8: Uint8Array): string {
  const core = new VaultCore({ backend: fixedBackend([], { 8: [random8.slice()] }), publicKey: new Uint8Array(32), scrambleKey, counter: new MemoryCounter(), withSecret: (fn) => fn(new Uint8Array(32)) });
  const nonce = core.safeNonce();
  if (!(nonce instanceof Uint8Array)) throw new Error('a memory counter gives its nonce at once');
  return toHex(nonce);
}
