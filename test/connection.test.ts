/**
 * End to end over 127.0.0.1 with real workers and real crypto: the socket API, its errors, and
 * the attacks a man in the middle can try (see test/helpers/proxy.ts).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect, CurvetunError } from '../lib/index.js';
import type { CurvetunSocket, Listener } from '../lib/index.js';
import { MAGIC_MESSAGE } from '../lib/protocol/index.js';
import { bytes, echoServer, makeWorld, within } from './helpers/fixtures.js';
import type { Vault } from '../lib/vault/types.js';
import type { World } from './helpers/fixtures.js';
import { replay, startProxy } from './helpers/proxy.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

/** A TCP server that accepts and reads but never answers. */
async function silentServer(t: ExecutionContext): Promise<Server> {
  const peers = new Set<Socket>();
  const silent = createServer((socket) => {
    peers.add(socket);
    socket.resume();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const p of peers) p.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  return silent;
}


async function pair(t: ExecutionContext, listener: Listener, port = listener.address().port, protocol?: 'v1') {
  const acceptP = listener.accept({ timeout: 5000 });
  const client = await connect('127.0.0.1', port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000, ...(protocol ? { protocol } : {}) });
  const server = await acceptP;
  t.teardown(() => Promise.all([client.close(), server.close()]).then(() => undefined));
  return { client, server };
}

function expectCode(t: ExecutionContext, error: unknown, ...codes: string[]) {
  t.true(error instanceof CurvetunError, `expected a CurvetunError, got ${String(error)}`);
  t.true(codes.includes((error as CurvetunError).code), `code ${(error as CurvetunError).code} not in ${codes.join('/')}`);
}

test.serial('echo of 0, 1, 1 000 and 65 503 byte messages', async (t) => {
  const listener = await world.listen();
  void echoServer(listener);
  const client = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  t.teardown(() => client.close());
  t.deepEqual(client.peerKey, listener.publicKey);
  for (const size of [0, 1, 1000, 65_503]) {
    const message = bytes(size, size + 7);
    await client.send(message);
    const echoed = await client.recv({ timeout: 5000 });
    t.is(echoed.length, size);
    t.deepEqual(Buffer.from(echoed), Buffer.from(message));
  }
});

test.serial('both ends know each other: peerKey, remoteAddress', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  t.deepEqual(server.peerKey, world.clientVault.publicKey);
  t.deepEqual(client.peerKey, world.serverVault.publicKey);
  t.is(server.remoteAddress, '127.0.0.1');
  t.is(client.remotePort, listener.address().port);
});

test.serial('a message over 65 503 bytes is refused with ETOOBIG before anything is sent; the socket stays usable', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener, undefined, 'v1');
  const error = await t.throwsAsync(client.send(new Uint8Array(65_504)));
  expectCode(t, error, 'ETOOBIG');
  await client.send('after');
  t.is(Buffer.from(await server.recv({ timeout: 5000 })).toString(), 'after');
});

test.serial('three waiting receivers get three messages in the order they called', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  const order: string[] = [];
  const receivers = ['first', 'second', 'third'].map((name) =>
    server.recv({ timeout: 5000 }).then((m) => {
      order.push(name);
      return Buffer.from(m).toString();
    }),
  );
  await client.send('a');
  await client.send('b');
  await client.send('c');
  t.deepEqual(await Promise.all(receivers), ['a', 'b', 'c']);
  t.deepEqual(order, ['first', 'second', 'third']);
});

test.serial('a recv timeout gives ETIMEDOUT and the socket stays usable', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  const started = Date.now();
  expectCode(t, await t.throwsAsync(server.recv({ timeout: 100 })), 'ETIMEDOUT');
  t.true(Date.now() - started >= 90);
  await client.send('still here');
  t.is(Buffer.from(await server.recv({ timeout: 5000 })).toString(), 'still here');
});

test.serial('an aborted recv gives EABORTED and the socket stays usable', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  const controller = new AbortController();
  const pending = server.recv({ signal: controller.signal });
  controller.abort();
  expectCode(t, await t.throwsAsync(pending), 'EABORTED');
  await client.send('x');
  t.is(Buffer.from(await server.recv({ timeout: 5000 })).toString(), 'x');
});

test.serial('close() with receivers waiting rejects each with ECLOSED; send after close is ECLOSED', async (t) => {
  const listener = await world.listen();
  const { server } = await pair(t, listener);
  const waiting = [server.recv(), server.recv(), server.recv()];
  await server.close();
  for (const w of waiting) expectCode(t, await t.throwsAsync(w), 'ECLOSED');
  expectCode(t, await t.throwsAsync(server.send('late')), 'ECLOSED');
  expectCode(t, await t.throwsAsync(server.recv()), 'ECLOSED');
});

test.serial('a peer that vanishes mid-stream rejects pending receives', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  const pending = client.recv({ timeout: 5000 });
  // Destroy the server's TCP socket without a curvetun close: v2 calls that a truncation (no END
  // or CLOSE came), v1 cannot tell it from a close.
  (server as unknown as { tcp: { destroy(): void } }).tcp.destroy();
  expectCode(t, await t.throwsAsync(pending), client.protocol === 'v2' ? 'ETRUNCATED' : 'ECLOSED');
  t.true(client.closed);
});

test.serial('messages, the close event and the async iterator', async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  const seen: string[] = [];
  const done = (async () => {
    for await (const m of server) seen.push(Buffer.from(m).toString());
  })();
  const closed = new Promise<CurvetunError>((resolve) => server.once('close', resolve));
  for (const word of ['one', 'two', 'three']) await client.send(word);
  await new Promise((r) => setTimeout(r, 50));
  await client.close();
  await within(done, 5000, 'iteration end');
  t.deepEqual(seen, ['one', 'two', 'three']);
  t.is((await closed).code, 'ECLOSED');
});

for (const protocol of ['v1', 'v2'] as const) {
  test.serial(`a client key the server does not allow is refused (${protocol}), and the client learns it within the timeout`, async (t) => {
    const listener = await world.listen();
    const stranger = await world.newVault('stranger');
    const failures: string[] = [];
    listener.on('handshakeError', (e) => failures.push(e.code));
    let outcome: unknown;
    try {
      const socket = await connect('127.0.0.1', listener.address().port, { protocol, vault: stranger, serverKey: listener.publicKey, timeout: 3000 });
      // v1 has no confirmation: the refusal arrives as the server closing the connection.
      outcome = await t.throwsAsync(socket.recv({ timeout: 3000 }));
    } catch (error) {
      outcome = error;
    }
    // Learnt from the server, not from our own timeout.
    expectCode(t, outcome, 'ECLOSED', 'EAUTH');
    t.regex((outcome as Error).message, /refused|closed/);
    t.deepEqual(failures, ['EAUTH']);
    // Nothing reaches accept().
    expectCode(t, await t.throwsAsync(listener.accept({ timeout: 100 })), 'ETIMEDOUT');
  });
}

test.serial('a wrong server key makes connect fail within the timeout', async (t) => {
  const listener = await world.listen();
  const impostor = await world.newVault('impostor');
  const started = Date.now();
  const error = await t.throwsAsync(
    connect('127.0.0.1', listener.address().port, { protocol: 'v1', vault: world.clientVault, serverKey: impostor.publicKey, timeout: 2000 }),
  );
  expectCode(t, error, 'ECLOSED', 'EAUTH', 'ETIMEDOUT');
  t.true(Date.now() - started < 2500);
});

test.serial('a server that never answers: connect fails with ETIMEDOUT', async (t) => {
  const silent = await silentServer(t);
  const error = await t.throwsAsync(
    connect('127.0.0.1', (silent.address() as { port: number }).port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, timeout: 300 }),
  );
  expectCode(t, error, 'ETIMEDOUT');
});

test.serial('connect aborted by its signal gives EABORTED', async (t) => {
  const silent = await silentServer(t);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const error = await t.throwsAsync(
    connect('127.0.0.1', (silent.address() as { port: number }).port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, signal: controller.signal }),
  );
  expectCode(t, error, 'EABORTED');
});

test.serial('a client that stalls mid-handshake is dropped at the handshake timeout', async (t) => {
  const listener = await world.listen({ handshakeTimeout: 200 });
  const failed = new Promise<CurvetunError>((resolve) => listener.once('handshakeError', resolve));
  const socket = await replay(listener.address().port, []);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.is((await within(failed, 3000, 'handshake timeout')).code, 'ETIMEDOUT');
  await within(closed, 3000, 'server closing the stalled connection');
  t.pass();
});

/**
 * The byte to flip in each packet so that it still decodes but no longer authenticates, and what
 * the victim may see. A spoiled Cookie is the client's own check: connect() itself must fail, EAUTH.
 */
const tamperCases: { name: string; direction: 'toServer' | 'toClient'; index: number; codes: string[] }[] = [
  { name: 'Hello', direction: 'toServer', index: 0, codes: ['ECLOSED', 'EAUTH', 'EPROTO', 'ETIMEDOUT'] },
  { name: 'Cookie', direction: 'toClient', index: 0, codes: ['EAUTH'] },
  { name: 'Vouch', direction: 'toServer', index: 1, codes: ['ECLOSED', 'EAUTH', 'EPROTO', 'ETIMEDOUT'] },
  { name: 'client Message', direction: 'toServer', index: 2, codes: ['ECLOSED', 'EAUTH', 'EPROTO', 'ETIMEDOUT'] },
  { name: 'server Message', direction: 'toClient', index: 1, codes: ['ECLOSED', 'EAUTH', 'EPROTO', 'ETIMEDOUT'] },
];

for (const c of tamperCases) {
  test.serial(`a flipped byte in the ${c.name} is refused and closes only that connection`, async (t) => {
    const listener = await world.listen({ handshakeTimeout: 2000 });
    void echoServer(listener);
    const proxy = await startProxy(listener.address().port, (payload, ctx) => {
      if (ctx.connection === 0 && ctx.direction === c.direction && ctx.index === c.index) {
        payload[payload.length - 1]! ^= 0x01; // inside the box: the tag no longer matches
      }
      return [payload];
    });
    t.teardown(() => proxy.close());
    let failure: unknown;
    let connected = false;
    try {
      const victim = await connect('127.0.0.1', proxy.port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 2000 });
      connected = true;
      await victim.send('hello');
      await victim.recv({ timeout: 2000 });
      failure = new Error('the tampered exchange went through');
    } catch (error) {
      failure = error;
    }
    expectCode(t, failure, ...c.codes);
    if (c.name === 'Cookie') t.false(connected, 'connect() reported a connection over a spoiled Cookie');
    // The server goes on serving others, through the same proxy.
    const other = await connect('127.0.0.1', proxy.port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
    await other.send('fine');
    t.is(Buffer.from(await other.recv({ timeout: 5000 })).toString(), 'fine');
    await other.close();
  });
}

test.serial('a Cookie spoiled in its nonce, at the start or at the end of its box makes connect() fail with EAUTH; it never reports connected', async (t) => {
  const listener = await world.listen({ handshakeTimeout: 2000 });
  // Cookie payload: magic (0–7) · n16 (8–23) · box (24–167, its tag first).
  const spoil = [
    { region: 'nonce, first byte', at: 8 },
    { region: 'nonce, last byte', at: 23 },
    { region: 'box, first tag byte', at: 24 },
    { region: 'box, first ciphertext byte', at: 40 },
    { region: 'box, last byte', at: 167 },
  ];
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction === 'toClient' && ctx.index === 0 && ctx.connection < spoil.length) payload[spoil[ctx.connection]!.at]! ^= 0x04;
    return [payload];
  });
  t.teardown(() => proxy.close());
  for (const { region } of spoil) {
    const outcome = await connect('127.0.0.1', proxy.port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 3000 }).then(
      async (socket) => {
        await socket.close();
        return 'connected';
      },
      (error: unknown) => error,
    );
    t.true(outcome instanceof CurvetunError, `${region}: ${String(outcome)}`);
    t.is((outcome as CurvetunError).code, 'EAUTH', `${region}: ${(outcome as Error).message}`);
  }
  t.is(listener.stats.accepted, 0, 'the server never got a Vouch it accepted');
  // The same path without a spoiled byte connects.
  const ok = await connect('127.0.0.1', proxy.port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  await ok.close();
});

test.serial('a flipped byte in a 60 000-byte message (opened in place) is refused; untampered ones arrive intact', async (t) => {
  const listener = await world.listen({ handshakeTimeout: 2000 });
  const received: Uint8Array[] = [];
  const serverSide = listener.accept({ timeout: 5000 }).then((socket) => {
    socket.on('message', (m) => received.push(new Uint8Array(m)));
    return new Promise<CurvetunError>((resolve) => socket.once('close', resolve));
  });
  // Client frames: Hello 0, Vouch 1, then messages 2, 3, 4: the third message is tampered with.
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction === 'toServer' && ctx.index === 4) payload[payload.length - 1000]! ^= 0x20;
    return [payload];
  });
  t.teardown(() => proxy.close());
  const client = await connect('127.0.0.1', proxy.port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  const big = (fill: number) => new Uint8Array(60_000).map((_, i) => (i * 7 + fill) & 0xff);
  for (const fill of [1, 2, 3]) await client.send(big(fill));
  const reason = await within(serverSide, 5000, 'the server closing the tampered connection');
  t.is(reason.code, 'EAUTH');
  t.is(received.length, 2, 'the two untampered messages were delivered, the tampered one never');
  t.deepEqual(received[0], big(1));
  t.deepEqual(received[1], big(2));
  await client.close();
});

test.serial('a listener whose backlog is full closes the connection that completes its handshake; the queued one is still accepted', async (t) => {
  const listener = await world.listen({ backlog: 1 });
  const port = listener.address().port;
  const first = await connect('127.0.0.1', port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  // The client is connected once its Vouch is out; wait (bounded) until the server has queued it.
  for (let i = 0; i < 100 && listener.stats.accepted < 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(listener.stats.accepted, 1);
  const second = await connect('127.0.0.1', port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  // The server closes the second one right after its handshake (from inside entering 'connected').
  const error = await t.throwsAsync(second.recv({ timeout: 5000 }), { instanceOf: CurvetunError });
  t.is(error!.code, 'ECLOSED');
  t.is(listener.stats.accepted, 2);
  const accepted = await listener.accept({ timeout: 5000 });
  t.is(accepted.state, 'connected');
  await first.send('still here');
  t.is(Buffer.from(await accepted.recv({ timeout: 5000 })).toString(), 'still here');
  await Promise.all([first.close(), accepted.close()]);
});

test.serial('a vault adapter without openHello (only open and seal) serves handshakes through two vault calls', async (t) => {
  const inner = world.serverVault;
  let calls = 0;
  const minimal: Vault = {
    publicKey: inner.publicKey,
    open: (box, nonce, peer) => (calls++, inner.open(box, nonce, peer)),
    seal: (plaintext, prefix, peer) => (calls++, inner.seal(plaintext, prefix, peer)),
    close: async () => undefined,
  };
  const listener = await world.listen({ vault: minimal });
  void echoServer(listener);
  const client = await connect('127.0.0.1', listener.address().port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  await client.send('plain adapter');
  t.is(Buffer.from(await client.recv({ timeout: 5000 })).toString(), 'plain adapter');
  t.is(calls, 3, 'Hello opened, Cookie box sealed, vouch opened: all by the vault');
  await client.close();
});

test.serial('a replayed message on the same connection is refused', async (t) => {
  const listener = await world.listen();
  const proxy = await startProxy(listener.address().port, (payload, ctx) =>
    ctx.direction === 'toServer' && ctx.index === 2 ? [payload, payload] : [payload],
  );
  t.teardown(() => proxy.close());
  const acceptP = listener.accept({ timeout: 5000 });
  const client = await connect('127.0.0.1', proxy.port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  t.teardown(() => client.close());
  const server = await acceptP;
  await client.send('once');
  t.is(Buffer.from(await server.recv({ timeout: 5000 })).toString(), 'once');
  const error = await t.throwsAsync(server.recv({ timeout: 5000 }));
  expectCode(t, error, 'EPROTO', 'ECLOSED');
  t.true(server.closed);
  t.is(server.closeReason?.code, 'EPROTO');
  t.regex(server.closeReason!.message, /replayed/);
});

test.serial('a message reflected back to its sender is refused', async (t) => {
  const listener = await world.listen();
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction === 'toServer' && ctx.index === 2) {
      t.deepEqual(payload.subarray(0, 8), MAGIC_MESSAGE);
      ctx.reflect(payload);
      return [];
    }
    return [payload];
  });
  t.teardown(() => proxy.close());
  const client = await connect('127.0.0.1', proxy.port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  t.teardown(() => client.close());
  await client.send('boomerang');
  const error = await t.throwsAsync(client.recv({ timeout: 5000 }));
  expectCode(t, error, 'EAUTH', 'ECLOSED');
  t.true(client.closed);
  t.is(client.closeReason?.code, 'EAUTH');
});

test.serial('a captured Vouch replayed on a fresh TCP connection is refused', async (t) => {
  const listener = await world.listen();
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const proxy = await startProxy(listener.address().port);
  t.teardown(() => proxy.close());
  const acceptP = listener.accept({ timeout: 5000 });
  const client = await connect('127.0.0.1', proxy.port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 5000 });
  await client.send('secret order');
  const server = await acceptP;
  t.is(Buffer.from(await server.recv({ timeout: 5000 })).toString(), 'secret order');
  await client.close();
  await server.close();

  // Replay the client's side of the conversation: Hello, Vouch (v2: Initiate), message (v2: and its CLOSE).
  const recorded = proxy.captured[0]!.toServer;
  t.is(recorded.length, client.protocol === 'v2' ? 4 : 3);
  const accepted = listener.accept({ timeout: 1500 });
  const attacker = await replay(listener.address().port, recorded);
  t.teardown(() => attacker.destroy());
  expectCode(t, await t.throwsAsync(accepted), 'ETIMEDOUT');
  t.is(failures.length, 1);
  t.is(failures[0]!.code, 'EAUTH');
  t.regex(failures[0]!.message, /replay|used/i);
});

test.serial('flow control: a slow reader pauses TCP instead of buffering without bound', async (t) => {
  const listener = await world.listen({ highWaterMark: 64 * 1024 });
  const { client, server } = await pair(t, listener);
  const message = new Uint8Array(16 * 1024);
  // Send 16 MiB without the server reading; sends must stall once buffers fill.
  let sent = 0;
  const sender = (async () => {
    for (let i = 0; i < 1024; i++) {
      await client.send(message);
      sent++;
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const stalledAt = sent;
  t.true(stalledAt < 1024, `all ${stalledAt} sends completed with no reader`);
  const buffered = (server as unknown as { inboxBytes: number }).inboxBytes;
  t.true(buffered <= 64 * 1024 + 128 * 1024, `server buffered ${buffered} bytes`);
  // Now read everything: the sender finishes.
  for (let i = 0; i < 1024; i++) await server.recv({ timeout: 10_000 });
  await sender;
  t.is(sent, 1024);
});

export type { CurvetunSocket };

test.serial('accept: a timeout gives ETIMEDOUT, an abort EABORTED, and close() rejects waiting callers with ECLOSED', async (t) => {
  const listener = await world.listen();
  expectCode(t, await t.throwsAsync(listener.accept({ timeout: 50 })), 'ETIMEDOUT');
  const controller = new AbortController();
  const aborted = listener.accept({ signal: controller.signal });
  controller.abort();
  expectCode(t, await t.throwsAsync(aborted), 'EABORTED');
  // Still usable after both.
  const { client } = await pair(t, listener);
  t.false(client.closed);
  const waiting = [listener.accept(), listener.accept()];
  await listener.close();
  for (const w of waiting) expectCode(t, await t.throwsAsync(w), 'ECLOSED');
  expectCode(t, await t.throwsAsync(listener.accept()), 'ECLOSED');
});

test.serial('a client restricted by allowedAddresses refuses to connect elsewhere, before any network traffic', async (t) => {
  const listener = await world.listen();
  let accepted = 0;
  listener.on('handshakeError', () => accepted++);
  const error = await t.throwsAsync(
    connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, allowedAddresses: ['10.0.0.0/8'] }),
  );
  expectCode(t, error, 'EDENIED');
  t.is(listener.stats.pendingHandshakes + accepted, 0);
  const ok = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, allowedAddresses: ['127.0.0.0/8'] });
  await ok.close();
});

// The client's code is its version's word for a close before the handshake ends: v1 ECLOSED, v2
// EHANDSHAKE (no READY or REJECT came).
for (const [protocol, code] of [['v1', 'ECLOSED'], ['v2', 'EHANDSHAKE']] as const) {
  test.serial(`a server with allowedAddresses drops other peers before any cryptography (${protocol} client: ${code})`, async (t) => {
    const listener = await world.listen({ allowedAddresses: ['10.0.0.0/8'] });
    const error = await t.throwsAsync(
      connect('127.0.0.1', listener.address().port, { protocol, vault: world.clientVault, serverKey: listener.publicKey, timeout: 2000 }),
    );
    expectCode(t, error, code);
    t.is(listener.stats.droppedByAddress, 1);
    t.is(listener.stats.handshakeFailures, 0); // no handshake was even started
  });
}

test.serial("messages that arrive before a 'message' listener is attached are delivered to it, in order", async (t) => {
  const listener = await world.listen();
  const { client, server } = await pair(t, listener);
  for (const word of ['early', 'bird']) await client.send(word);
  await new Promise((r) => setTimeout(r, 100)); // both are now buffered at the server
  const got: string[] = [];
  const done = new Promise<void>((resolve) =>
    server.on('message', (m) => {
      got.push(Buffer.from(m).toString());
      if (got.length === 3) resolve();
    }),
  );
  await client.send('late');
  await within(done, 5000, 'three messages');
  t.deepEqual(got, ['early', 'bird', 'late']);
});
