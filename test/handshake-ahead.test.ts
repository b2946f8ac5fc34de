/**
 * Ephemeral key pairs made ahead (lib/connection/handshake-ahead.ts): each is handed out once,
 * the stock refills itself in a later turn, and real handshakes over loopback use distinct
 * ephemeral keys (the Hello's key on the wire is never repeated).
 */
import { once } from 'node:events';
import net from 'node:net';
import test from 'ava';
import { LocalCookieKeeper, LocalVault, connect, listen } from '../lib/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { getKem } from '../lib/crypto/mlkem.js';
import { MadeAhead, ephemeralKemKeyPair, ephemeralKeyPair } from '../lib/connection/handshake-ahead.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const turn = () => new Promise((r) => setImmediate(r));

test('made ahead: each value is handed out once, made now when the stock is empty, and the stock refills in a later turn', async (t) => {
  let made = 0;
  const stock = new MadeAhead(() => ++made, 2);
  t.is(stock.stocked, 0);
  t.is(stock.take(), 1, 'nothing stocked: made on the spot');
  for (let i = 0; i < 5 && stock.stocked < 2; i++) await turn();
  t.is(stock.stocked, 2, 'refilled up to its depth, not beyond');
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const v = stock.take();
    t.false(seen.has(v), `value ${v} handed out twice`);
    seen.add(v);
    if (i % 7 === 0) await turn();
  }
  t.true(made <= 200 + 3, 'no runaway making: at most depth values wait');
});

test('ephemeral key pairs: X25519 and ML-KEM pairs are valid, fresh on every take, and never repeated', async (t) => {
  const backend = getBackend('sodium');
  const publics = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const pair = ephemeralKeyPair(backend);
    t.false(publics.has(hex(pair.publicKey)), 'an X25519 pair was handed out twice');
    publics.add(hex(pair.publicKey));
    // A working pair: its secret half agrees with a peer on one shared point.
    const peer = backend.keyPair();
    t.is(hex(backend.scalarMult(pair.secretKey, peer.publicKey)), hex(backend.scalarMult(peer.secretKey, pair.publicKey)));
    if (i % 3 === 0) await turn();
  }
  const kem = getKem();
  const kemKeys = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const pair = ephemeralKemKeyPair(kem);
    t.false(kemKeys.has(hex(pair.encapsulationKey)), 'an ML-KEM pair was handed out twice');
    kemKeys.add(hex(pair.encapsulationKey));
    const { ciphertext, sharedSecret } = kem.encapsulate(pair.encapsulationKey);
    t.is(hex(kem.decapsulate(ciphertext, pair.decapsulationKey)), hex(sharedSecret));
    await turn();
  }
});

test('handshakes with keys made ahead: v1, v2 classical and v2 hybrid connect, and no two Hellos carry the same ephemeral key', async (t) => {
  const serverVault = LocalVault.generate({ crypto: 'sodium' });
  const clientVault = LocalVault.generate({ crypto: 'sodium' });
  const cookies = new LocalCookieKeeper({ crypto: 'sodium' });
  const listener = await listen(0, { vault: serverVault, cookies, acceptAnyClient: true, crypto: 'sodium', postQuantum: true });
  t.teardown(async () => {
    await listener.close();
    await cookies.close();
  });
  void (async () => {
    for await (const socket of listener) void socket.close();
  })();
  // A relay in front of the listener keeps each connection's first bytes: the Hello. A Hello is a
  // function of the client's ephemeral key (its box is sealed under a key from it, at a fixed
  // nonce), so two equal Hellos would mean one ephemeral key used twice.
  const hellos: string[] = [];
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(listener.address().port, '127.0.0.1');
    let first = true;
    inbound.on('data', (chunk) => {
      if (first) hellos.push(chunk.toString('hex'));
      first = false;
      outbound.write(chunk);
    });
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => relay.close());
  const port = (relay.address() as net.AddressInfo).port;
  const cases = [{ protocol: 'v1' as const }, { protocol: 'v2' as const, postQuantum: false }, { protocol: 'v2' as const, postQuantum: true }];
  for (const c of cases) {
    for (let i = 0; i < 8; i++) {
      const socket = await connect('127.0.0.1', port, { vault: clientVault, serverKey: listener.publicKey, crypto: 'sodium', timeout: 60_000, ...c });
      t.is(hex(socket.peerKey), hex(listener.publicKey));
      await socket.close();
      if (i % 2 === 0) await turn(); // some handshakes find a pair made ahead, some do not
    }
  }
  t.is(hellos.length, 24);
  t.is(new Set(hellos).size, 24, 'every Hello is different: no ephemeral key was used twice');
});

/** Count the setImmediate calls made while `run` runs (the stock schedules its refills with it). Serial tests only: ava runs them before the others, so no other test schedules any meanwhile. */
async function immediatesDuring(run: () => Promise<void> | void): Promise<number> {
  const original = globalThis.setImmediate;
  let calls = 0;
  globalThis.setImmediate = ((...args: Parameters<typeof setImmediate>) => {
    calls++;
    return original(...args);
  }) as typeof setImmediate;
  try {
    await run();
  } finally {
    globalThis.setImmediate = original;
  }
  return calls;
}

test.serial('made ahead: one refill is scheduled however many takes a turn makes, and a full stock schedules nothing (no busy loop)', async (t) => {
  let made = 0;
  const stock = new MadeAhead(() => ++made, 1);
  // Three takes in one turn: one refill scheduled, one value stocked.
  t.is(await immediatesDuring(() => void [stock.take(), stock.take(), stock.take()]), 1);
  for (let i = 0; i < 5 && stock.stocked < 1; i++) await turn();
  t.is(stock.stocked, 1);
  t.is(made, 4, 'three made on the spot, one ahead');
  // Full: the next turns schedule no further refill (the stock does not spin on the event loop).
  const original = globalThis.setImmediate;
  let scheduled = 0;
  globalThis.setImmediate = ((...args: Parameters<typeof setImmediate>) => {
    scheduled++;
    return original(...args);
  }) as typeof setImmediate;
  try {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 1));
  } finally {
    globalThis.setImmediate = original;
  }
  t.is(scheduled, 0, 'no refill scheduled by a full stock');
  t.is(made, 4);
});

test.serial('ephemeral key pairs: the stock of a backend lives on, so the next handshake takes a pair made ahead, not one made on the spot', async (t) => {
  const real = getBackend('tweetnacl');
  let made = 0;
  const counting = { ...real, keyPair: () => (made++, real.keyPair()) } as typeof real;
  ephemeralKeyPair(counting);
  for (let i = 0; i < 5 && made < 2; i++) await turn();
  t.is(made, 2, 'one made on the spot, one ahead');
  ephemeralKeyPair(counting);
  t.is(made, 2, 'the second take used the pair made ahead');
});
