/**
 * Channel sessions over real curvetun connections on 127.0.0.1 (real worker vaults, real crypto):
 * bytes both ways with a real half-close, refusals with their reasons, per-channel flow control
 * (one stalled reader stalls only its channel), the limits, aborts, deadlines, and the end of the
 * connection.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import test from 'ava';
import { ChannelRefusedError, ChannelSession } from '../lib/channels/index.js';
import type { Channel, RefuseReason } from '../lib/channels/index.js';
import { checkedLimits } from '../lib/channels/limits.js';
import { CurvetunError } from '../lib/errors.js';
import type { ErrorCode } from '../lib/errors.js';
import { failureOf, readAll, socketPair } from './helpers/channels.js';
import { bytes, makeWorld, within } from './helpers/fixtures.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function sessions(t: { teardown(fn: () => Promise<void>): void }, serverOptions = {}, clientOptions = {}) {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await socketPair(world);
  t.teardown(async () => void (await Promise.all([client.close(), server.close()])));
  return {
    client,
    server,
    opener: new ChannelSession(client, clientOptions),
    acceptor: new ChannelSession(server, { acceptIncoming: true, ...serverOptions }),
  };
}

/** Polls a condition that settles by itself (bounded: 30 s). */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !condition(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!condition()) throw new Error(`${what}: not within 30 s`);
}

test('a channel carries bytes both ways byte-exact, with a real half-close each way', async (t) => {
  const { opener, acceptor } = await sessions(t);
  const request = acceptor.accept({ timeout: 30_000 });
  const opening = opener.open({ host: 'db.internal', port: 5432 });
  const incoming = await within(request, 30_000, 'the request');
  t.deepEqual(incoming.target, { host: 'db.internal', port: 5432 });
  const far = incoming.accept();
  const near = await within(opening, 30_000, 'the open');

  const closes = Promise.all([once(near, 'close'), once(far, 'close')]);
  const question = bytes(1_000_000, 3);
  const answer = bytes(300_000, 4);
  near.end(question);
  // The far side reads everything up to our EOF, and only then answers: its writable side is open.
  const got = await within(readAll(far), 30_000, 'the question');
  t.is(sha(got), sha(question));
  t.true(far.writable);
  far.end(answer);
  const reply = await within(readAll(near), 30_000, 'the answer');
  t.is(sha(reply), sha(answer));
  await within(closes, 30_000, 'both closes');
  t.is(near.bytesSent, question.length);
  t.is(far.bytesReceived, question.length);
  t.is(far.bytesSent, answer.length);
  await eventually(() => opener.channelCount === 0 && acceptor.channelCount === 0, 'ids released');
  t.is(opener.reserved, 0);
  t.is(acceptor.reserved, 0);
});

test('refusals arrive with their reason and a typed code; a session that does not accept refuses as not-allowed', async (t) => {
  const { opener, acceptor } = await sessions(t);
  const reasons: RefuseReason[] = ['not-allowed', 'connection-refused', 'timed-out', 'too-many-channels', 'unreachable', 'failed'];
  const codes: ErrorCode[] = ['EDENIED', 'ECLOSED', 'ETIMEDOUT', 'EBUSY', 'ECLOSED', 'ECLOSED'];
  void (async () => {
    for await (const request of acceptor) request.refuse(reasons[request.target.port - 1]!);
  })();
  for (let i = 0; i < reasons.length; i++) {
    const error = await t.throwsAsync(opener.open({ host: '10.0.0.1', port: i + 1 }, { timeout: 30_000 }), { instanceOf: ChannelRefusedError });
    t.is((error as ChannelRefusedError).reason, reasons[i]!);
    t.is(error!.code, codes[i]!);
    t.regex(error!.message, new RegExp(`10\\.0\\.0\\.1:${i + 1} refused \\(${reasons[i]}\\)`));
  }
  // The other way round: the opener's session takes no opens.
  const error = await t.throwsAsync(acceptor.open({ host: 'a.example', port: 1 }, { timeout: 30_000 }), { instanceOf: ChannelRefusedError });
  t.is((error as ChannelRefusedError).reason, 'not-allowed');
  t.is(error!.code, 'EDENIED');
  t.is(opener.stats.refused, 1);
  await t.throwsAsync(opener.open({ host: 'not a host', port: 1 }), { code: 'EINVAL' });
  await t.throwsAsync(opener.open({ host: 'a.example', port: 0 }), { code: 'EINVAL' });
});

test('one stalled reader stalls only its own channel: its sender stops at the window, the others finish byte-exact', async (t) => {
  const window = 64 * 1024;
  const { opener, acceptor } = await sessions(t, { window }, { window });
  const size = 2_000_000;
  const accepted: Channel[] = [];
  void (async () => {
    for await (const request of acceptor) accepted.push(request.accept().on('error', () => undefined));
  })();
  const channels = await Promise.all(Array.from({ length: 8 }, (_, i) => opener.open({ host: 'svc.example', port: 1000 + i }, { timeout: 30_000 })));
  for (const channel of channels) channel.on('error', () => undefined);
  await eventually(() => accepted.length === 8, 'all accepted');
  const data = channels.map((_, i) => bytes(size, 10 + i));
  channels.forEach((channel, i) => channel.end(data[i]));
  const stalled = accepted.find((c) => c.target.port === 1000)!;
  // Everyone but the stalled channel's reader reads to the end.
  const others = accepted.filter((c) => c !== stalled);
  const results = await within(Promise.all(others.map((c) => readAll(c))), 60_000, 'the other channels');
  for (const [i, channel] of others.entries()) t.is(sha(results[i]!), sha(data[channel.target.port - 1000]!));
  // The stalled channel's sender has sent exactly what the window allowed, no more.
  const stalledSender = channels[0]!;
  t.true(stalledSender.bytesSent > 0);
  t.true(stalledSender.bytesSent <= window, `${stalledSender.bytesSent} bytes sent into a ${window}-byte window`);
  t.true(stalledSender.writableLength > 0, 'the rest waits on the sending side');
  // Once it reads, it gets everything.
  const late = await within(readAll(stalled), 60_000, 'the stalled channel');
  t.is(sha(late), sha(data[0]!));
});

test('limits: channels in use and the window budget, each refused with a clear error on both sides', async (t) => {
  const { client, opener, acceptor } = await sessions(t, { maxChannels: 2 }, { window: 64 * 1024, maxBufferedBytes: 192 * 1024 });
  const requests: unknown[] = [];
  void (async () => {
    for await (const request of acceptor) requests.push(request.accept().on('error', () => undefined));
  })();
  // The acceptor holds two channels; the third open is refused by it.
  for (const port of [1, 2]) (await opener.open({ host: 'a.example', port }, { timeout: 30_000 })).on('error', () => undefined);
  const refused = await t.throwsAsync(opener.open({ host: 'a.example', port: 3 }, { timeout: 30_000 }), { instanceOf: ChannelRefusedError });
  t.is((refused as ChannelRefusedError).reason, 'too-many-channels');
  t.is(refused!.code, 'EBUSY');
  t.is(acceptor.stats.refused, 1);
  // The opener's own budget: three windows of 64 KiB fit in 192 KiB (the refused one freed its id); a fourth does not.
  const third = opener.open({ host: 'a.example', port: 4 }, { timeout: 30_000 });
  const budget = await t.throwsAsync(opener.open({ host: 'a.example', port: 5 }), { instanceOf: CurvetunError });
  t.is(budget!.code, 'EBUSY');
  t.regex(budget!.message, /buffer budget is spent \(196608 bytes/);
  await t.throwsAsync(third, { instanceOf: ChannelRefusedError });
  // One session per connection; limits that cannot hold a window are refused.
  t.throws(() => new ChannelSession(client), { code: 'EINVAL', message: /already has a channel session/ });
  t.throws(() => checkedLimits({ window: 10, maxBufferedBytes: 5 }), { code: 'EINVAL' });
  t.throws(() => checkedLimits({ maxChannels: 0 }), { code: 'EINVAL' });
});

test('destroying a channel aborts it at the far end (ECLOSED) and frees its id on both sides', async (t) => {
  const { opener, acceptor } = await sessions(t);
  const farPromise = acceptor.accept({ timeout: 30_000 }).then((r) => r.accept());
  const near = await opener.open({ host: 'a.example', port: 1 }, { timeout: 30_000 });
  const far = await farPromise;
  near.write(bytes(100_000, 1));
  const failure = failureOf(far);
  far.resume();
  near.destroy();
  const error = await within(failure, 30_000, 'the far error');
  t.is(error.code, 'ECLOSED');
  t.regex(error.message, /the peer aborted the channel/);
  await eventually(() => opener.channelCount === 0 && acceptor.channelCount === 0, 'ids released');
});

test('an open past its deadline is ETIMEDOUT; when the answer comes later the channel is closed at once', async (t) => {
  const { opener, acceptor } = await sessions(t);
  const error = await t.throwsAsync(opener.open({ host: 'a.example', port: 1 }, { timeout: 300 }), { instanceOf: CurvetunError });
  t.is(error!.code, 'ETIMEDOUT');
  const controller = new AbortController();
  const aborted = opener.open({ host: 'a.example', port: 2 }, { signal: controller.signal });
  controller.abort();
  await t.throwsAsync(aborted, { code: 'EABORTED' });
  // The acceptor answers both late: they are closed by the opener as soon as they are accepted.
  for (let i = 0; i < 2; i++) {
    const channel = (await acceptor.accept({ timeout: 30_000 })).accept();
    const failure = await within(failureOf(channel), 30_000, 'the late channel aborted');
    t.is(failure.code, 'ECLOSED');
  }
  await eventually(() => opener.channelCount === 0 && acceptor.channelCount === 0, 'ids released');
});

test('the connection closing ends every channel with ECLOSED, and the session with it', async (t) => {
  const { client, opener, acceptor } = await sessions(t);
  const farPromise = acceptor.accept({ timeout: 30_000 }).then((r) => r.accept());
  const near = await opener.open({ host: 'a.example', port: 1 }, { timeout: 30_000 });
  const far = await farPromise;
  const waiting = acceptor.accept();
  const nearFailure = failureOf(near);
  const farFailure = failureOf(far);
  await client.close();
  t.is((await within(nearFailure, 30_000, 'near')).code, 'ECLOSED');
  t.is((await within(farFailure, 30_000, 'far')).code, 'ECLOSED');
  await t.throwsAsync(waiting, { code: 'ECLOSED' });
  t.is(acceptor.closeReason?.code, 'ECLOSED');
  await t.throwsAsync(opener.open({ host: 'a.example', port: 1 }), { code: 'ECLOSED' });
});
