/**
 * Agent mode as a user runs it: `curvetun gateway` and `curvetun agent` as real processes, each
 * with its own home, and redis-server behind the agent; redis-cli and redis-benchmark through the
 * gateway's exposed port. Refusals are checked by what the targets saw (connection counts) and by
 * the log lines of both ends. Skipped (not failed) without the redis binaries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { daemon, run } from './cli-process.js';
import type { Daemon } from './cli-process.js';
import { echoTarget, roundTrip, until } from './helpers/agent.js';
import { cli, connectionsReceived, exec, redisTests, requestsPerSecond, startRedis } from './helpers/redis.js';

const { redisTest, SKIP_NOTE } = redisTests(test);

/** The ports of the gateway's `exposing address=HOST:PORT` lines, in --expose order. */
async function exposedPorts(gateway: Daemon, count: number): Promise<number[]> {
  const lines = () => [...gateway.stderr().matchAll(/\bexposing address=\S*:(\d+)/g)];
  await until(() => lines().length >= count, 'the exposing lines');
  return lines().map((m) => Number(m[1]));
}

async function keygen(home: string): Promise<string> {
  const made = await run(['keygen', '--home', home]);
  if (made.code !== 0) throw new Error(`keygen: ${made.stderr}`);
  const fp = await run(['fingerprint', join(home, 'id_curvetun.pub')]);
  return fp.stdout.toString().trim().split(/\s+/)[0]!;
}

/** Whether a TCP client of `port` got through: `refused` when the gateway reset it. */
const attempt = (port: number) =>
  roundTrip(port, Buffer.from('PING\r\n')).then(
    (reply) => reply.toString(),
    (error: NodeJS.ErrnoException) => `refused (${error.code})`,
  );

redisTest(`redis behind an agent: commands and redis-benchmark through the gateway; refusals while the agent is away, for targets --allow does not cover and for unknown agent keys; the agent killed and restarted${SKIP_NOTE}`, async (t) => {
  t.timeout(900_000);
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(dir);
  t.teardown(() => void redis.child.kill('SIGTERM'));
  const outside = await echoTarget('127.0.0.2');
  t.teardown(() => outside.close());

  const [gatewayHome, agentHome, strangerHome] = ['gateway', 'agent', 'stranger'].map((name) => join(dir, name)) as [string, string, string];
  const [, agentKey, strangerKey] = (await Promise.all([gatewayHome, agentHome, strangerHome].map(keygen))) as [string, string, string];
  t.is((await run(['registry', 'add', '127.0.0.1', join(agentHome, 'id_curvetun.pub'), '--comment', 'acme-db', '--home', gatewayHome])).code, 0);
  for (const home of [agentHome, strangerHome]) t.is((await run(['registry', 'add', '127.0.0.1', join(gatewayHome, 'id_curvetun.pub'), '--home', home])).code, 0);

  const gateway = await daemon(t, [
    'gateway', '--listen', '127.0.0.1:0', '--home', gatewayHome,
    '--expose', `127.0.0.1:0=acme-db:127.0.0.1:${redis.port}`,
    '--expose', `127.0.0.1:0=${agentKey}:127.0.0.2:${outside.port}`,
  ]);
  const [redisPort, outsidePort] = (await exposedPorts(gateway, 2)) as [number, number];
  t.truthy(redisPort && outsidePort, gateway.stderr());
  const agentArgs = ['agent', '--to', `127.0.0.1:${gateway.port}`, '--allow', '127.0.0.1/32', '--allow', 'localhost', '--home', agentHome];
  const connected = /\binfo connected to=/;

  // No agent yet: the local connection is reset at once, and the gateway says why.
  t.regex(await attempt(redisPort), /^refused/);
  await gateway.waitFor(/warn channel_refused agent=acme-db .*reason=agent-not-connected/);

  let mark = gateway.mark();
  const agent = await daemon(t, agentArgs, { ready: connected });
  await gateway.waitFor(`agent_connected agent=acme-db key=${agentKey}`, undefined, mark);

  // Commands and their replies, byte-exact: a random 500 kB value set through the agent reads back.
  const value = randomBytes(250_000).toString('hex');
  t.is((await exec('redis-cli', ['-p', String(redisPort), '-x', 'SET', 'big'], value)).stdout.trim(), 'OK');
  t.is((await cli(redisPort, 'GET', 'big')).stdout.trim(), value);
  t.is((await cli(redis.port, 'GET', 'big')).stdout.trim(), value, 'it really is in redis');
  const pipeline = `${'INCR counter\n'.repeat(1000)}GET counter\n`;
  const lines = (await exec('redis-cli', ['-p', String(redisPort)], pipeline)).stdout.trim().split('\n');
  t.deepEqual(lines, [...Array.from({ length: 1000 }, (_, i) => String(i + 1)), '1000']);

  // redis-benchmark through the gateway: every request answered (it exits 0 with figures for both).
  const bench = await exec('redis-benchmark', ['-p', String(redisPort), '-n', '20000', '-q', '-t', 'set,get', '-c', '20'], undefined, 300_000);
  t.is(bench.code, 0, bench.stderr);
  for (const op of ['SET', 'GET']) {
    t.true(requestsPerSecond(bench.stdout, op) > 0, `${op}: ${bench.stdout}`);
    t.log(`redis-benchmark ${op} through the agent: ${requestsPerSecond(bench.stdout, op).toFixed(0)} req/s`);
  }

  // A target --allow does not cover: refused at the agent, never dialled.
  t.regex(await attempt(outsidePort), /^refused/);
  await agent.waitFor(/warn channel_refused channel=\d+ target=127\.0\.0\.2:\d+ reason=not-allowed/);
  await gateway.waitFor(/warn channel_refused .*target=127\.0\.0\.2:\d+ reason=not-allowed/);
  t.is(outside.connections, 0);
  await agent.waitFor(/info channel_closed channel=\d+ target=127\.0\.0\.1:\d+ address=127\.0\.0\.1 up=\d+ down=\d+ duration_ms=\d+ reason=closed/);

  // The agent is killed: the gateway refuses meanwhile, and serves the restarted agent by itself.
  mark = gateway.mark();
  agent.child.kill('SIGKILL');
  await agent.exited;
  await gateway.waitFor('agent_disconnected agent=acme-db', undefined, mark);
  t.regex(await attempt(redisPort), /^refused/);
  await gateway.waitFor(/channel_refused agent=acme-db .*reason=agent-not-connected/, undefined, mark);
  mark = gateway.mark();
  await daemon(t, agentArgs, { ready: connected });
  await gateway.waitFor('agent_connected agent=acme-db', undefined, mark);
  t.is((await cli(redisPort, 'STRLEN', 'big')).stdout.trim(), String(value.length));
  t.is(gateway.child.exitCode, null, 'the gateway ran throughout');

  // A key the gateway's registry does not list: refused at the handshake, its channels never opened.
  mark = gateway.mark();
  const before = await connectionsReceived(redis.port);
  const stranger = await daemon(t, ['agent', '--to', `127.0.0.1:${gateway.port}`, '--allow', '*', '--home', strangerHome], { ready: /\bwarn disconnected /, timeoutMs: 180_000 });
  await gateway.waitFor(`warn refused peer=127.0.0.1:`, undefined, mark);
  t.regex(gateway.stderr().slice(mark), new RegExp(`warn refused peer=\\S+ key=${strangerKey.replace(/[+/]/g, '\\$&')}`));
  t.notRegex(gateway.stderr().slice(mark), /agent_connected/);
  // Protocol v2 tells a refused client so (REJECT); the stranger says why, and dials again later.
  t.regex(stranger.stderr(), /warn disconnected to=\S+ code=EAUTH reason="the server refused our key/);
  t.notRegex(stranger.stderr(), /info connected/);
  t.is((await cli(redisPort, 'PING')).stdout.trim(), 'PONG', 'the known agent still serves');
  t.is(await connectionsReceived(redis.port), before + 2, 'only our own two redis-cli connections reached redis');
});
