/**
 * Agent mode through the library (lib/agent/): a Gateway and an Agent over a real curvetun
 * connection on loopback (worker vaults, real crypto), plain TCP targets and clients. What the
 * gateway's clients get, what the targets see (connection counts), and the events both ends
 * report. Processes (the CLI, redis) are in agent-cli.test.ts and agent-channels.test.ts.
 */
import { once } from 'node:events';
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import test from 'ava';
import { Agent, Gateway, backoffDelay, checkedBackoff, resolveAgent } from '../lib/agent/index.js';
import type { ChannelClosed, ChannelRefused } from '../lib/agent/index.js';
import { parseExpose } from '../bin/cli/commands/agent.js';
import { fingerprint } from '../lib/keys/fingerprint.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { bytes, failure, makeWorld } from './helpers/fixtures.js';
import { addNamed, echoTarget, gatewayWithAgent, roundTrip, until } from './helpers/agent.js';

type T = import('ava').ExecutionContext;

async function setup(t: T) {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  return world;
}

function collect<E>(emitter: { on(event: string, listener: (info: E) => void): unknown }, event: string): E[] {
  const seen: E[] = [];
  emitter.on(event, (info) => seen.push(info));
  return seen;
}

test('a local connection to an exposed port reaches the target through the agent, byte-exact, half-closed each way; both ends report it', async (t) => {
  const world = await setup(t);
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const { gateway, agent, ports } = await gatewayWithAgent(world, [echo], { allow: ['127.0.0.1'] });
  t.teardown(() => Promise.all([agent.close(), gateway.close()]).then(() => undefined));
  const agentClosed = collect<ChannelClosed>(agent, 'channelClose');
  const gatewayClosed = collect<ChannelClosed>(gateway, 'channelClose');

  // Every size from empty to several windows: the client ends its side, the echo ends after it.
  for (const size of [0, 1, 65_503, 1 << 20]) {
    const payload = bytes(size, size + 1);
    const back = await roundTrip(ports[0]!, payload);
    t.true(back.equals(Buffer.from(payload)), `${size} bytes came back byte-exact`);
  }
  await until(() => agentClosed.length === 4 && gatewayClosed.length === 4, 'both ends reported four closes');
  const sizes = [0, 1, 65_503, 1 << 20];
  t.deepEqual(agentClosed.map((c) => [c.bytesToTarget, c.bytesFromTarget, c.end]), sizes.map((s) => [s, s, 'closed']));
  t.deepEqual(gatewayClosed.map((c) => [c.bytesToTarget, c.bytesFromTarget, c.end]), sizes.map((s) => [s, s, 'closed']));
  t.is(agentClosed[0]!.address, '127.0.0.1');
  t.is(gatewayClosed[0]!.target, `127.0.0.1:${echo.port}`);
  t.deepEqual(gatewayClosed[0]!.agent, { name: 'test-agent', fingerprint: fingerprint(world.clientVault.publicKey) });
  t.deepEqual(gateway.agents().map((a) => a.agent), [gatewayClosed[0]!.agent]);
  for (const c of [...agentClosed, ...gatewayClosed]) t.true(c.durationMs >= 0);
  t.is(echo.connections, 4);
});

test('the allow-list: a target it does not cover is refused as not-allowed and never dialled; an empty list allows nothing; "*" allows anything', async (t) => {
  const world = await setup(t);
  const outside = await echoTarget('127.0.0.2');
  const echo = await echoTarget('127.0.0.1');
  t.teardown(() => Promise.all([outside.close(), echo.close()]).then(() => undefined));
  const expose = [outside, echo];

  for (const [allow, allowed] of [
    [['127.0.0.1/32'], [false, true]],
    [[], [false, false]],
    [['*'], [true, true]],
  ] as const) {
    const { gateway, agent, ports } = await gatewayWithAgent(world, expose, { allow: [...allow] });
    const agentRefused = collect<ChannelRefused>(agent, 'channelRefused');
    const gatewayRefused = collect<ChannelRefused>(gateway, 'channelRefused');
    const before = outside.connections;
    const outcome = await roundTrip(ports[0]!, bytes(10)).then(
      (b) => (b.length === 10 ? 'connected' : `${b.length} bytes`),
      (error: NodeJS.ErrnoException) => error.code,
    );
    t.is(outcome, allowed[0] ? 'connected' : 'ECONNRESET', `${JSON.stringify(allow)}: 127.0.0.2`);
    t.is(outside.connections - before, allowed[0] ? 1 : 0, `${JSON.stringify(allow)}: attempts at 127.0.0.2`);
    const echoed = await roundTrip(ports[1]!, bytes(10)).then(
      (b) => b.length,
      (error: NodeJS.ErrnoException) => error.code,
    );
    t.is(echoed, allowed[1] ? 10 : 'ECONNRESET', `${JSON.stringify(allow)}: 127.0.0.1`);
    const refusals = allowed.filter((a) => !a).length;
    await until(() => agentRefused.length === refusals && gatewayRefused.length === refusals, 'refusals reported');
    for (const r of [...agentRefused, ...gatewayRefused]) t.is(r.reason, 'not-allowed');
    if (refusals > 0) t.regex(agentRefused[0]!.detail, /not among the allowed addresses/);
    await Promise.all([agent.close(), gateway.close()]);
  }
});

/** A lookup whose n-th call answers `answers[n]` (the last one from then on). */
function changingLookup(...answers: string[][]): { lookup: LookupFunction; calls: string[] } {
  const calls: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    calls.push(hostname);
    const list: LookupAddress[] = answers[Math.min(calls.length - 1, answers.length - 1)]!.map((address) => ({ address, family: 4 }));
    setImmediate(() => (options.all ? callback(null, list) : callback(null, list[0]!.address, 4)));
  };
  return { lookup, calls };
}

test('a target name is resolved once per channel and exactly the checked addresses are dialled: when it resolves elsewhere, nothing is dialled', async (t) => {
  const world = await setup(t);
  const allowed = await echoTarget('127.0.0.1');
  // The same port on 127.0.0.2 (where the name points on its second lookup) counts attempts.
  const elsewhere = await echoTarget('127.0.0.2', allowed.port).catch(() => null);
  if (!elsewhere) return t.pass('port taken on 127.0.0.2; nothing to compare against');
  t.teardown(() => Promise.all([allowed.close(), elsewhere.close()]).then(() => undefined));
  const { lookup, calls } = changingLookup(['127.0.0.1'], ['127.0.0.2']);
  const name = 'db.rebind.invalid';
  const { gateway, agent, ports } = await gatewayWithAgent(world, [{ host: name, port: allowed.port }], { allow: ['127.0.0.1/32'], lookup });
  t.teardown(() => Promise.all([agent.close(), gateway.close()]).then(() => undefined));
  const refused = collect<ChannelRefused>(agent, 'channelRefused');

  // First channel: one lookup (127.0.0.1, allowed), dialled there.
  t.is((await roundTrip(ports[0]!, bytes(100))).length, 100);
  t.deepEqual(calls, [name]);
  t.is(allowed.connections, 1);
  // Second channel: its one lookup says 127.0.0.2, which the list does not cover: refused undialled.
  const second = await roundTrip(ports[0]!, bytes(100)).then(
    () => 'connected',
    (e: NodeJS.ErrnoException) => e.code,
  );
  t.is(second, 'ECONNRESET');
  await until(() => refused.length === 1, 'the refusal reported');
  t.deepEqual(calls, [name, name]);
  t.is(refused[0]!.reason, 'not-allowed');
  t.is(elsewhere.connections, 0);
  t.is(allowed.connections, 1);
});

test('an agent that is not connected: local connections are refused at once; after a loss it reconnects with backoff and is served again, gateway untouched', async (t) => {
  const world = await setup(t);
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const { gateway, agent, ports } = await gatewayWithAgent(world, [echo], { allow: ['127.0.0.1'] });
  t.teardown(() => gateway.close());
  const refused = collect<ChannelRefused>(gateway, 'channelRefused');
  t.is((await roundTrip(ports[0]!, bytes(5))).length, 5);

  await agent.close();
  await until(() => gateway.agents().length === 0, 'the gateway saw the agent go');
  const whileAway = await roundTrip(ports[0]!, bytes(5)).then(
    () => 'connected',
    (e: NodeJS.ErrnoException) => e.code,
  );
  t.is(whileAway, 'ECONNRESET');
  await until(() => refused.length === 1, 'the refusal reported');
  t.is(refused[0]!.reason, 'agent-not-connected');
  t.regex(refused[0]!.detail, /agent test-agent \(SHA256:.+\) is not connected/);

  // A new agent process (here: a new Agent) with the same key: served again.
  const again = new Agent({
    gateway: { host: '127.0.0.1', port: gateway.listener.address().port },
    connect: { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: 60_000 },
    allow: ['127.0.0.1'],
    backoff: { initialMs: 50, maxMs: 400 },
  });
  t.teardown(() => again.close());
  const back = once(gateway, 'agentConnect');
  again.start();
  await back;
  t.is((await roundTrip(ports[0]!, bytes(7))).length, 7);

  // The gateway's listener goes away: the agent retries with growing delays, then reconnects.
  const port = gateway.listener.address().port;
  const retries: { retryInMs: number | null; attempt: number }[] = [];
  again.on('disconnect', (info) => retries.push(info));
  await gateway.close();
  await until(() => retries.length >= 4, 'four failed attempts');
  t.deepEqual(retries.slice(0, 4).map((r) => r.attempt), [0, 1, 2, 3]);
  for (const r of retries) {
    const ceiling = Math.min(400, 50 * 2 ** r.attempt);
    t.true(r.retryInMs !== null && r.retryInMs >= ceiling / 2 && r.retryInMs <= ceiling, `attempt ${r.attempt}: ${r.retryInMs} ms`);
  }
  t.false(again.connected);
  const second = await Gateway.start({
    port,
    listen: { host: '127.0.0.1', vault: world.serverVault, registry: world.registry },
    expose: [{ listen: { host: '127.0.0.1', port: 0 }, agent: 'test-agent', target: echo }],
  });
  t.teardown(() => second.close());
  await once(second, 'agentConnect');
  t.is((await roundTrip(second.exposed[0]!.address().port, bytes(9))).length, 9);
});

test('agents the gateway does not know are refused: a key outside its registry at the handshake, a registry key no rule names after it', async (t) => {
  const world = await setup(t);
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const { gateway, agent, ports } = await gatewayWithAgent(world, [echo], { allow: ['*'] });
  t.teardown(() => Promise.all([agent.close(), gateway.close()]).then(() => undefined));
  const refused = collect<{ peer: string; key?: string; keyRefused: boolean; reason: { code: string; message: string } }>(gateway, 'agentRefused');

  const stranger = await world.newVault('stranger');
  const listed = await world.newVault('listed');
  await addNamed(world.registry, '127.0.0.1', listed.publicKey, 'some-client');
  for (const [vault, code] of [
    [stranger, 'EAUTH'],
    [listed, 'EAUTH'],
  ] as const) {
    const intruder = new Agent({
      gateway: { host: '127.0.0.1', port: gateway.listener.address().port },
      connect: { serverKey: world.serverVault.publicKey, vault, timeout: 60_000 },
      allow: ['*'],
      backoff: { initialMs: 10_000, maxMs: 10_000 },
    });
    const lost = once(intruder, 'disconnect');
    const before = refused.length;
    intruder.start();
    await lost;
    await until(() => refused.length > before, 'the gateway reported the refusal');
    t.is(refused[before]!.reason.code, code);
    t.is(refused[before]!.key, fingerprint(vault.publicKey));
    t.true(refused[before]!.keyRefused);
    await intruder.close();
  }
  t.regex(refused.at(-1)!.reason.message, /no expose rule names it/);
  // The known agent still has the only connection and is served.
  t.is(gateway.agents().length, 1);
  t.is((await roundTrip(ports[0]!, bytes(3))).length, 3);
});

test('backoff: equal jitter between half and all of a doubling ceiling, capped; bad options are EINVAL', (t) => {
  const b = checkedBackoff({ initialMs: 100, maxMs: 1000 });
  t.deepEqual([0, 1, 2, 3, 4, 10, 2000].map((a) => backoffDelay(a, b, () => 0)), [50, 100, 200, 400, 500, 500, 500]);
  t.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, b, () => 1)), [100, 200, 400, 800, 1000, 1000]);
  t.is(backoffDelay(2, b, () => 0.5), 300);
  for (const bad of [{ initialMs: 0 }, { maxMs: -1 }, { stableMs: Number.NaN }, { initialMs: 500, maxMs: 100 }]) {
    t.throws(() => checkedBackoff(bad), { code: 'EINVAL' } as never, JSON.stringify(bad));
  }
});

test('an agent is named by key, .pub line, fingerprint or registry name; unknown and shared names are EINVAL', async (t) => {
  const world = await setup(t);
  const key = world.clientVault.publicKey;
  await addNamed(world.registry, '10.0.0.0/8', key, 'acme-db primary');
  const other = await world.newVault('other');
  await addNamed(world.registry, '*', other.publicKey, 'twin');
  await addNamed(world.registry, '10.0.0.1', world.serverVault.publicKey, 'twin');
  const text = encodePublicKeyText(key);
  for (const spec of [text, `curvetun-x25519 ${text} acme`, fingerprint(key), 'acme-db']) {
    const identity = await resolveAgent(spec, world.registry);
    t.deepEqual([encodePublicKeyText(identity.key), identity.fingerprint, identity.name], [text, fingerprint(key), 'acme-db'], spec);
  }
  t.is((await failure(resolveAgent('nobody', world.registry))).code, 'EINVAL');
  t.regex((await failure(resolveAgent('twin', world.registry))).message, /2 different keys .* named "twin"/);
  t.is((await failure(resolveAgent(fingerprint(new Uint8Array(32)), world.registry))).code, 'EINVAL');
});

test('--expose LOCAL=AGENT:TARGET: agents with colons (fingerprints) and "=" (base64) in them, IPv6 targets; malformed rules are usage errors', (t) => {
  const key = encodePublicKeyText(new Uint8Array(32).fill(7));
  const fp = fingerprint(new Uint8Array(32).fill(7));
  t.deepEqual(parseExpose(`127.0.0.1:6379=acme-db:10.1.2.3:6379`), { listen: { host: '127.0.0.1', port: 6379 }, agent: 'acme-db', target: { host: '10.1.2.3', port: 6379 } });
  t.deepEqual(parseExpose(`6379=${key}:db.internal:5432`), { listen: { host: '127.0.0.1', port: 6379 }, agent: key, target: { host: 'db.internal', port: 5432 } });
  t.deepEqual(parseExpose(`[::1]:7=${fp}:[2001:db8::5]:22`), { listen: { host: '::1', port: 7 }, agent: fp, target: { host: '2001:db8::5', port: 22 } });
  for (const bad of ['127.0.0.1:1', '127.0.0.1:1=acme', '127.0.0.1:1=:10.0.0.1:5', '127.0.0.1:1=acme:10.0.0.1', '127.0.0.1:1=acme:10.0.0.1:70000']) {
    t.is(t.throws(() => parseExpose(bad))?.name, 'UsageError', bad);
  }
});
