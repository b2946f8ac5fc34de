/**
 * Many channels over one agent connection, as processes: `curvetun gateway` and `curvetun agent`
 * in front of a plain TCP echo (half-close kept), 100 local connections at once with mixed sizes.
 * One client stops reading: its channel stalls at its credit window, all the others finish
 * byte-exact while it is stalled, and once it reads again it finishes byte-exact too. Outcome and
 * order only; every deadline is generous (a loaded machine is slow, not wrong).
 */
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { daemon, run, tempDir, twoEnds } from './cli-process.js';
import { echoTarget, until } from './helpers/agent.js';
import { bytes } from './helpers/fixtures.js';

const CHANNELS = 100;
/** Sizes from empty to several windows (256 KiB each), in turn. */
const SIZES = [0, 1, 1000, 16_384, 65_503, 65_504, 300_000, 1 << 20];
/** The stalled channel's payload: far beyond its window and the socket buffers on its way. */
const STALLED_BYTES = 64 << 20;

/** A client that writes `payload`, ends its side, and collects what comes back until the far end ends. */
function client(port: number, payload: Uint8Array, paused = false): { socket: Socket; done: Promise<Buffer> } {
  const socket = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
  });
  if (paused) socket.pause();
  socket.once('connect', () => socket.end(payload));
  return { socket, done };
}

test('100 channels at once over one agent connection, byte-exact; a stalled reader holds back only its own channel', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const { server: gatewayHome, client: agentHome } = await twoEnds(dir, { names: ['gateway', 'agent'], clientComment: 'echo-agent' });

  const gateway = await daemon(t, ['gateway', '--listen', '127.0.0.1:0', '--expose', `127.0.0.1:0=echo-agent:127.0.0.1:${echo.port}`, '--open-timeout', '300', '--home', gatewayHome]);
  const port = Number(/\bexposing address=\S*:(\d+)/.exec(await gateway.waitFor(/\bexposing address=/))![1]);
  await daemon(t, ['agent', '--to', `127.0.0.1:${gateway.port}`, '--allow', '127.0.0.1', '--dial-timeout', '300', '--home', agentHome], { ready: /\binfo connected to=/ });
  await gateway.waitFor('agent_connected agent=echo-agent');

  const stalledPayload = bytes(STALLED_BYTES, 7);
  const stalled = client(port, stalledPayload, true);
  const others = Array.from({ length: CHANNELS - 1 }, (_, i) => {
    const payload = bytes(SIZES[i % SIZES.length]!, i + 11);
    return { payload, ...client(port, payload) };
  });
  let stalledDone = false;
  void stalled.done.then(() => (stalledDone = true), () => undefined);

  const results = await Promise.allSettled(others.map((o) => o.done));
  const exact = results.map((r, i) => r.status === 'fulfilled' && r.value.equals(Buffer.from(others[i]!.payload)));
  t.is(exact.filter(Boolean).length, CHANNELS - 1, `byte-exact: ${exact.map((ok, i) => (ok ? '' : `#${i} (${SIZES[i % SIZES.length]} B)`)).filter(Boolean).join(' ')}`);
  t.false(stalledDone, 'the stalled channel had not finished while its reader was stopped');
  await until(() => echo.open === 1, 'the finished channels\' target connections closed', 120_000);
  t.false(stalledDone);

  // The reader starts again: the whole 64 MiB comes back, byte-exact.
  stalled.socket.resume();
  const back = await stalled.done;
  t.is(back.length, STALLED_BYTES);
  t.true(back.equals(Buffer.from(stalledPayload)));

  // All of them went over the one agent connection: one agent_connected, 100 channels closed cleanly.
  await gateway.waitFor(new RegExp(`channel_closed channel=\\d+ agent=echo-agent .*up=${STALLED_BYTES} down=${STALLED_BYTES} `));
  const closedCleanly = () => gateway.stderr().match(/\binfo channel_closed .*reason=closed/g)?.length ?? 0;
  await until(() => closedCleanly() >= CHANNELS, 'a channel_closed line for every channel', 120_000);
  t.is(closedCleanly(), CHANNELS);
  t.is(gateway.stderr().match(/agent_connected/g)?.length, 1);
  t.is(echo.connections, CHANNELS);
});
