/**
 * A hostile gateway against a real Agent: a curvetun listener that speaks channel frames by hand
 * (test/helpers/channels.ts) and breaks the rules a Gateway never would. The agent closes only
 * what each broken rule calls for: a frame for an unknown channel is dropped, a window overrun or
 * a second answer resets that one channel (and its TCP connection to the target), data after a
 * close is dropped; the healthy channel keeps echoing and the connection stays up. Only a frame
 * that does not decode ends the connection, and then the agent dials again. Over v1 and v2 alike.
 */
import { once } from 'node:events';
import test from 'ava';
import { Agent } from '../lib/agent/index.js';
import type { ChannelClosed } from '../lib/agent/index.js';
import type { ChannelFrame } from '../lib/channels/index.js';
import type { CurvetunError } from '../lib/index.js';
import { RawPeer, is } from './helpers/channels.js';
import { bytes, makeWorld } from './helpers/fixtures.js';
import { echoTarget, until } from './helpers/agent.js';

const WINDOW = 4096;

const hostileGateway = async (t: import('ava').ExecutionContext, protocol: 'v1' | 'v2') => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const listener = await world.listen({ host: '127.0.0.1' });
  const agent = new Agent({
    gateway: { host: '127.0.0.1', port: listener.address().port },
    connect: { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: 60_000, protocol },
    allow: ['127.0.0.1'],
    channels: { window: WINDOW },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  t.teardown(() => agent.close());
  const closed: ChannelClosed[] = [];
  agent.on('channelClose', (c) => closed.push(c));
  const losses: CurvetunError[] = [];
  agent.on('disconnect', (d) => losses.push(d.reason));
  agent.start();
  const raw = new RawPeer(await listener.accept({ timeout: 60_000 }));

  const open = async (channel: number) => {
    await raw.send({ type: 'open', channel, window: 1 << 20, target: { host: '127.0.0.1', port: echo.port } });
    const answer = await raw.next((f) => f.channel === channel && (f.type === 'accept' || f.type === 'refuse'));
    t.is(answer.type, 'accept', `channel ${channel} opened`);
  };
  const echoes = async (channel: number, size = 1000) => {
    const sent = bytes(size, channel);
    await raw.send({ type: 'data', channel, bytes: sent });
    const parts: Uint8Array[] = [];
    for (let got = 0; got < size; ) {
      const frame = (await raw.next(is('data', channel))) as Extract<ChannelFrame, { type: 'data' }>;
      parts.push(frame.bytes);
      got += frame.bytes.length;
    }
    return Buffer.concat(parts).equals(Buffer.from(sent));
  };

  const healthy = 2; // the listener's side of the connection numbers its channels 2, 4, 6, …
  await open(healthy);
  t.true(await echoes(healthy));

  // Frames for a channel that was never opened: dropped, nothing answered.
  for (const frame of [
    { type: 'data', channel: 98, bytes: new Uint8Array([1]) },
    { type: 'window', channel: 96, increment: 5 },
    { type: 'eof', channel: 94 },
  ] as ChannelFrame[]) await raw.send(frame);
  t.true(await echoes(healthy));
  t.false(raw.pending.some((f) => [98, 96, 94].includes(f.channel)));

  // Window overrun: the agent resets that channel and drops its connection to the target.
  await open(4);
  await until(() => echo.open === 2, 'two target connections open');
  await raw.send({ type: 'data', channel: 4, bytes: new Uint8Array(WINDOW + 1) });
  t.deepEqual(await raw.next(is('close', 4)), { type: 'close', channel: 4, code: 'protocol' });
  await until(() => closed.length === 1 && echo.open === 1, 'channel 4 and its target connection closed');
  t.is(closed[0]!.id, 4);
  t.is(closed[0]!.end, 'EPROTO');
  t.true(await echoes(healthy));

  // A second answer to an open the agent answered: the same.
  await open(6);
  await raw.send({ type: 'accept', channel: 6, window: 10 });
  t.deepEqual(await raw.next(is('close', 6)), { type: 'close', channel: 6, code: 'protocol' });
  await until(() => closed.length === 2 && echo.open === 1, 'channel 6 and its target connection closed');

  // Data after close: the gateway aborts channel 8, the agent acknowledges; later data is dropped.
  await open(8);
  await raw.send({ type: 'close', channel: 8, code: 'aborted' });
  t.deepEqual(await raw.next(is('close', 8)), { type: 'close', channel: 8, code: 'aborted' });
  await raw.send({ type: 'data', channel: 8, bytes: new Uint8Array([9]) });
  await until(() => closed.length === 3 && echo.open === 1, 'channel 8 and its target connection closed');
  t.is(closed[2]!.end, 'ECLOSED');
  t.true(await echoes(healthy));
  t.false(raw.pending.some((f) => f.channel === 8));

  // Through all of it: one connection, never lost.
  t.deepEqual(losses, []);
  t.true(agent.connected);

  // A frame that does not decode (version 9): the agent ends the connection, then dials again.
  const next = listener.accept({ timeout: 60_000 });
  next.catch(() => undefined); // judged below; a failure before that must not be unhandled
  await raw.sendBytes(new Uint8Array([9, 4, 0, 0, 0, 2, 1]));
  const [lost] = (await once(agent, 'disconnect')) as [{ reason: CurvetunError }];
  t.is(lost.reason.code, 'EPROTO');
  await until(() => echo.open === 0, 'the healthy channel\'s target connection closed with the connection');
  const again = new RawPeer(await next);
  await again.send({ type: 'open', channel: 2, window: 1 << 20, target: { host: '127.0.0.1', port: echo.port } });
  t.is((await again.next((f) => f.channel === 2)).type, 'accept');
};

// The channel layer uses nothing of the session but its messages: the same over both versions.
for (const protocol of ['v1', 'v2'] as const) {
  test(`hostile channel frames from the gateway close only what they must at the agent (${protocol})`, (t) => hostileGateway(t, protocol));
}
