/**
 * A hostile channel peer over a real curvetun connection: it speaks channel frames by hand and
 * sends what a well-behaved session never would. Each broken rule closes only what it must:
 * a frame for an unknown id is dropped, a rule of one channel resets that channel (the others
 * keep echoing), a frame that does not decode or an OPEN that reuses an id ends the connection,
 * and the listener goes on serving everyone else.
 */
import test from 'ava';
import { ChannelSession, encodeChannelFrame } from '../lib/channels/index.js';
import type { Channel, ChannelFrame } from '../lib/channels/index.js';
import { RawPeer, is, socketPair } from './helpers/channels.js';
import { bytes, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

const WINDOW = 4096;

/** A server session that echoes every channel, and a raw client facing it. */
async function hostileSetup(t: { teardown(fn: () => Promise<void>): void }, world: World) {
  const { client, server } = await socketPair(world);
  t.teardown(async () => void (await Promise.all([client.close(), server.close()])));
  const session = new ChannelSession(server, { acceptIncoming: true, window: WINDOW });
  const channels = new Map<number, Channel>();
  const errors = new Map<number, Error & { code?: string }>();
  void (async () => {
    for await (const request of session) {
      const channel = request.accept();
      channels.set(channel.id, channel);
      channel.on('error', (error) => errors.set(channel.id, error));
      channel.pipe(channel); // echo, ending when the peer ends
    }
  })().catch(() => undefined);
  const raw = new RawPeer(client);
  return { client, server, session, channels, errors, raw };
}

async function openRaw(raw: RawPeer, channel: number): Promise<void> {
  await raw.send({ type: 'open', channel, window: 1 << 20, target: { host: 'echo.test', port: 7 } });
  const answer = await raw.next((f) => f.channel === channel && (f.type === 'accept' || f.type === 'refuse'));
  if (answer.type !== 'accept') throw new Error(`channel ${channel} was not accepted`);
}

/** Data sent on `channel` comes back byte-exact (the channel is alive). */
async function echoes(raw: RawPeer, channel: number, size = 1000): Promise<boolean> {
  const sent = bytes(size, channel);
  await raw.send({ type: 'data', channel, bytes: sent });
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < size) {
    const frame = (await raw.next(is('data', channel))) as Extract<ChannelFrame, { type: 'data' }>;
    parts.push(frame.bytes);
    got += frame.bytes.length;
  }
  return Buffer.concat(parts).equals(Buffer.from(sent));
}

test('frames that break one channel\'s rules reset that channel only; frames for unknown ids are dropped', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { session, channels, errors, raw, client } = await hostileSetup(t, world);
  const healthy = 1;
  await openRaw(raw, healthy);
  t.true(await echoes(raw, healthy));

  // Unknown ids (never opened): dropped, nothing answered, nothing closed.
  for (const frame of [
    { type: 'data', channel: 99, bytes: new Uint8Array([1]) },
    { type: 'window', channel: 77, increment: 5 },
    { type: 'eof', channel: 55 },
    { type: 'close', channel: 33, code: 'aborted' },
    { type: 'accept', channel: 31, window: 5 },
  ] as ChannelFrame[]) await raw.send(frame);
  t.true(await echoes(raw, healthy));
  t.is(session.stats.dropped, 5);
  t.false(raw.pending.some((f) => [99, 77, 55, 33, 31].includes(f.channel)));

  // Window overrun: one byte beyond the window the session granted.
  await openRaw(raw, 3);
  await raw.send({ type: 'data', channel: 3, bytes: new Uint8Array(WINDOW + 1) });
  const reset3 = await raw.next(is('close', 3));
  t.deepEqual(reset3, { type: 'close', channel: 3, code: 'protocol' });
  t.is(errors.get(3)?.code, 'EPROTO');
  t.regex(errors.get(3)!.message, /4097 bytes of data with 4096 bytes of window left/);
  t.true(await echoes(raw, healthy));

  // Data after the peer's own EOF.
  await openRaw(raw, 5);
  await raw.send({ type: 'eof', channel: 5 });
  await raw.send({ type: 'data', channel: 5, bytes: new Uint8Array([1, 2, 3]) });
  t.deepEqual(await raw.next(is('close', 5)), { type: 'close', channel: 5, code: 'protocol' });
  t.regex(errors.get(5)!.message, /data after the peer ended its data/);

  // Data after close: the peer aborts channel 7, we acknowledge and free it; later data is dropped.
  await openRaw(raw, 7);
  await raw.send({ type: 'close', channel: 7, code: 'aborted' });
  t.deepEqual(await raw.next(is('close', 7)), { type: 'close', channel: 7, code: 'aborted' });
  t.is(errors.get(7)?.code, 'ECLOSED');
  await raw.send({ type: 'data', channel: 7, bytes: new Uint8Array([9]) });
  t.true(await echoes(raw, healthy));
  t.is(session.stats.dropped, 6);

  // A second answer to an open that was answered long ago; a window past 2^32 - 1.
  await openRaw(raw, 9);
  await raw.send({ type: 'accept', channel: 9, window: 10 });
  t.deepEqual(await raw.next(is('close', 9)), { type: 'close', channel: 9, code: 'protocol' });
  await openRaw(raw, 11);
  await raw.send({ type: 'window', channel: 11, increment: 0xffffffff });
  t.deepEqual(await raw.next(is('close', 11)), { type: 'close', channel: 11, code: 'protocol' });
  t.regex(errors.get(11)!.message, /window above 2\^32 - 1/);

  // Through all of it: the healthy channel echoes, the connection is up, no error on it.
  t.true(await echoes(raw, healthy));
  t.false(client.closed);
  t.is(session.closeReason, null);
  t.false(errors.has(healthy));
  t.is(session.stats.reset, 4);
  t.is(channels.size, 6);
});

test('frames that do not decode, or OPENs that reuse or steal an id, end the connection (EPROTO); the listener serves the next one', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const tooLongHost = Buffer.concat([
    encodeChannelFrame({ type: 'open', channel: 1, window: 1, target: { host: 'a.b', port: 1 } }).subarray(0, 12),
    Buffer.from([254]),
    Buffer.alloc(254, 0x61),
  ]);
  const cases: [string, Uint8Array | ChannelFrame, RegExp][] = [
    ['garbage', new Uint8Array([0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9]), /unsupported channel protocol version 255/],
    ['a truncated frame', new Uint8Array([1, 4, 0, 0]), /at least 6 bytes/],
    ['an oversized host in an open', tooLongHost, /canonical IP address or DNS name/],
    ['channel 0', new Uint8Array([1, 5, 0, 0, 0, 0]), /channel 0 is reserved/],
    ['an open with an id of the other side\'s numbering', { type: 'open', channel: 2, window: 1, target: { host: 'a.b', port: 1 } }, /an id of our numbering/],
    ['an open reusing an id in use', { type: 'open', channel: 1, window: 1, target: { host: 'a.b', port: 1 } }, /which is in use/],
  ];
  for (const [what, frame, why] of cases) {
    const { session, channels, errors, raw, client, server } = await hostileSetup(t, world);
    await openRaw(raw, 1);
    t.true(await echoes(raw, 1), what);
    if (frame instanceof Uint8Array) await raw.sendBytes(frame);
    else await raw.send(frame);
    await within(new Promise((resolve) => (server.closed ? resolve(null) : server.once('close', resolve))), 30_000, `${what}: the server closes`);
    t.is(session.closeReason?.code, 'EPROTO', what);
    t.regex(session.closeReason!.message, why, what);
    await within(new Promise((resolve) => (client.closed ? resolve(null) : client.once('close', resolve))), 30_000, `${what}: the client sees the close`);
    // The open channel of that connection failed with the session's reason.
    t.is(errors.get(1)?.code, 'EPROTO', what);
    t.is(channels.size, 1);
  }
  // The listener still serves: a fresh connection opens and echoes.
  const { raw } = await hostileSetup(t, world);
  await openRaw(raw, 1);
  t.true(await echoes(raw, 1));
});
