/**
 * Stream mode over real sockets, real worker vaults and real crypto on 127.0.0.1: cutting and
 * joining, 100 MB byte-identical, backpressure end to end, end-of-stream rules, failures.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { MAX_MESSAGE_BYTES, connect } from '../lib/index.js';
import type { CurvetunSocket } from '../lib/index.js';
import { cutIntoMessages } from '../lib/stream/index.js';
import { bytes, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';

async function pair(world: World, port?: number): Promise<{ client: CurvetunSocket; server: CurvetunSocket; close(): Promise<void> }> {
  const listener = await world.listen();
  const accepted = listener.accept({ timeout: 60_000 });
  accepted.catch(() => undefined); // a failed connect below is the failure to report, not this
  const client = await connect('127.0.0.1', port ?? listener.address().port, {
    serverKey: world.serverVault.publicKey,
    vault: world.clientVault,
    timeout: 60_000, // only stops a hung handshake: a loaded machine can take seconds
  });
  const server = await accepted;
  return { client, server, close: async () => void (await Promise.all([client.close(), server.close()])) };
}

test('cutIntoMessages: pieces are non-empty, at most max, in order, and join to the input', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.integer({ min: 1, max: 200 }), (chunks, max) => {
      const pieces = cutIntoMessages(chunks, max);
      const total = chunks.reduce((n, c) => n + c.length, 0);
      t.is(pieces.length, Math.ceil(total / max));
      for (const p of pieces) t.true(p.length > 0 && p.length <= max);
      t.deepEqual(Buffer.concat(pieces), Buffer.concat(chunks));
    }),
    { numRuns: 500 },
  );
  t.throws(() => cutIntoMessages([new Uint8Array(1)], 0), { instanceOf: RangeError });
});

test('one large write is cut into full 65 503-byte messages; many small writes share one', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server, close } = await pair(world);
  const out = client.stream();
  const data = bytes(3 * MAX_MESSAGE_BYTES + 1234, 7);
  out.write(data);
  const sizes: number[] = [];
  const got: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    const m = await server.recv({ timeout: 60_000 });
    sizes.push(m.length);
    got.push(m);
  }
  t.deepEqual(sizes, [MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, 1234]);
  t.deepEqual(Buffer.concat(got), Buffer.from(data));

  // Writes queued while one is in flight are packed together: fewer messages than writes.
  out.cork();
  for (let i = 0; i < 100; i++) out.write(Buffer.from(`line ${i}\n`));
  out.uncork();
  let text = '';
  let messages = 0;
  while (!text.endsWith('line 99\n')) {
    text += Buffer.from(await server.recv({ timeout: 60_000 })).toString();
    messages++;
  }
  t.is(text, Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
  t.true(messages < 100, `${messages} messages for 100 writes`);
  await close();
});

test('messages sent in message mode are joined into the byte stream; empty messages add nothing', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  const input = server.stream();
  await client.send('abc');
  await client.send(new Uint8Array(0));
  await client.send('def');
  await client.close();
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  t.is(Buffer.concat(chunks).toString(), 'abcdef');
});

test('100 MB arrives byte-identical (SHA-256), both directions at once', async (t) => {
  t.timeout(900_000);
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  const total = 100 * 1024 * 1024;
  const chunk = 1 << 20;
  const a = client.stream();
  const b = server.stream();
  const sentHash = createHash('sha256');
  const gotHash = createHash('sha256');
  let received = 0;
  // The server echoes the stream back: the bytes cross the tunnel twice.
  b.pipe(b);
  const started = Date.now();
  const reading = (async () => {
    for await (const piece of a) {
      gotHash.update(piece as Buffer);
      received += (piece as Buffer).length;
      if (received >= total) break;
    }
  })();
  for (let sent = 0, seed = 1; sent < total; sent += chunk, seed++) {
    const piece = bytes(chunk, seed);
    sentHash.update(piece);
    if (!a.write(piece)) await once(a, 'drain');
  }
  await within(reading, 840_000, 'the echo of 100 MB');
  const seconds = (Date.now() - started) / 1000;
  t.is(received, total);
  t.is(gotHash.digest('hex'), sentHash.digest('hex'));
  t.log(`100 MB out and back in ${seconds.toFixed(1)} s (${((2 * total) / 1e6 / seconds).toFixed(0)} MB/s over the tunnel)`);
  await client.close();
});

/** What the kernel may hold for one loopback connection: the largest send plus receive buffer. */
function kernelBufferBound(): number {
  const max = (file: string) => {
    try {
      return Number(readFileSync(file, 'utf8').trim().split(/\s+/).pop());
    } catch {
      return 32 * 1024 * 1024;
    }
  };
  return max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem');
}

test('backpressure: a writer facing a peer that does not read is held (write() false, no drain) with every buffer within its high-water mark; drain comes once the peer reads, and all arrives', async (t) => {
  t.timeout(900_000);
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const HWM = 64 * 1024;
  const PIECE = 16 * 1024;
  const listener = await world.listen({ highWaterMark: HWM });
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', listener.address().port, { serverKey: world.serverVault.publicKey, vault: world.clientVault });
  const server = await accepted;
  const out = client.stream({ writableHighWaterMark: HWM });
  const input = server.stream({ readableHighWaterMark: HWM });
  t.teardown(() => {
    out.destroy();
    input.destroy();
  });
  let held = false;
  // The reader takes the first chunk, then stops reading (its stream has started pulling).
  const got = createHash('sha256');
  let received = 0;
  input.on('data', (c: Buffer) => {
    got.update(c);
    received += c.length;
    if (!held) input.pause();
  });
  // Ours: both streams and the server socket's inbox (a message each past its mark); the
  // kernel's: the send and receive buffers. A writer that gets further was never held.
  const bound = 3 * (HWM + MAX_MESSAGE_BYTES) + kernelBufferBound();
  const hash = createHash('sha256');
  let written = 0;
  let refused = 0;
  let drains = 0;
  const write = (seed: number) => {
    const piece = bytes(PIECE, seed);
    hash.update(piece);
    written += piece.length;
    return out.write(piece);
  };
  let seed = 1;
  while (!held && written - out.writableLength - received <= bound) {
    if (write(seed++)) continue;
    refused++;
    t.true(out.writableLength <= HWM + PIECE, `the writable side holds ${out.writableLength} bytes`);
    // The deadline only decides when to stop waiting; a loaded machine just stops sooner.
    const drained = await Promise.race([once(out, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
    if (drained) drains++;
    else held = true;
  }
  const through = written - out.writableLength - received;
  t.log(`held after ${(through / 1e6).toFixed(1)} MB past the writable side (${refused} refused writes, ${drains} drains); bound ${(bound / 1e6).toFixed(1)} MB`);
  t.true(held, `the writer was never held: ${through} bytes went through with nobody reading`);
  t.true(refused > 0, 'write() returned false');
  t.true(input.readableLength <= HWM + MAX_MESSAGE_BYTES, `the reader's stream buffered ${input.readableLength} bytes unread`);
  if (!held) return; // failed above; the rest would only wait

  t.true(received <= PIECE * 4, `the reader took ${received} bytes before it stopped`);
  // The peer reads again: the held write drains, the writer goes on, everything arrives intact.
  const drained = once(out, 'drain');
  input.resume();
  await within(drained, 300_000, "'drain' after the peer started reading");
  for (let i = 0; i < 64; i++) if (!write(seed++)) await once(out, 'drain');
  out.end();
  await within(once(input, 'end'), 300_000, 'reading the backlog');
  t.is(received, written);
  t.is(got.digest('hex'), hash.digest('hex'));
});

test('end() flushes, then closes the connection: the peer stream ends, the socket closes cleanly', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  const out = client.stream();
  const input = server.stream();
  const data = bytes(300_000, 3);
  out.end(data);
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(c as Buffer);
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
  await within(once(out, 'close'), 60_000, 'the local stream closing');
  t.is(client.closeReason?.code, 'ECLOSED');
  t.is(server.closeReason?.code, 'ECLOSED');
  // Writing after the end is the ordinary stream error, not a crash.
  await t.throwsAsync(() => new Promise<void>((resolve, reject) => out.write('late', (e) => (e ? reject(e) : resolve()))));
});

test('destroy() closes the connection; a stream whose peer has gone closes, and writing to it fails', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  const a = client.stream();
  const b = server.stream();
  b.resume();
  const ended = once(b, 'end');
  a.destroy();
  await within(ended, 60_000, 'the peer stream ending');
  await within(once(b, 'close'), 60_000, 'the peer stream closing');
  t.true(client.closed);
  t.is(server.closeReason?.code, 'ECLOSED');
  const fresh = await pair(world);
  const c = fresh.client.stream();
  c.on('error', () => undefined);
  const closed = once(c, 'close');
  await fresh.server.close();
  await within(closed, 60_000, 'close after the peer left');
  const err = await new Promise<Error | null | undefined>((resolve) => c.write('x', resolve));
  t.truthy(err);
  t.is(fresh.client.closeReason?.code, 'ECLOSED');
});

test('a tampered packet destroys the stream with EAUTH; nothing after it is delivered', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  // toClient frames: 0 = Cookie, 1 = the first message, 2 = the second.
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction === 'toClient' && ctx.index === 2) {
      const copy = new Uint8Array(payload);
      copy[copy.length - 1]! ^= 1;
      return [copy];
    }
    return undefined;
  });
  t.teardown(() => proxy.close());
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', proxy.port, { protocol: 'v1', serverKey: world.serverVault.publicKey, vault: world.clientVault });
  const server = await accepted;
  const input = client.stream();
  const out = server.stream();
  out.on('error', () => undefined);
  out.write('first');
  await new Promise((r) => setTimeout(r, 100));
  out.write('second');
  out.write('third');
  const chunks: string[] = [];
  const error = await within(
    new Promise<Error>((resolve) => {
      input.on('data', (c: Buffer) => chunks.push(c.toString()));
      input.on('error', resolve);
    }),
    60_000,
    'the stream error',
  );
  t.is((error as { code?: string }).code, 'EAUTH');
  t.deepEqual(chunks, ['first']);
  t.true(input.destroyed);
});
