/**
 * Proof with a service nobody here wrote: redis-server on loopback behind `curvetun serve`, its own
 * redis-cli and redis-benchmark through `curvetun tunnel`. Skipped (not failed) when the redis
 * binaries are not installed; `.ci/run` installs them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { run, start } from './cli-process.js';
import { cli, connectionsReceived, exec, redisTests, requestsPerSecond, startRedis } from './helpers/redis.js';

const { redisTest, SKIP_NOTE } = redisTests(test);

redisTest(`redis through serve + tunnel: commands, a pipeline and redis-benchmark are answered correctly; an unknown key gets nothing through${SKIP_NOTE}`, async (t) => {
  t.timeout(900_000);
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const redis = await startRedis(dir);
  t.teardown(() => void redis.child.kill('SIGTERM'));

  const server = join(dir, 'server');
  const client = join(dir, 'client');
  const stranger = join(dir, 'stranger');
  for (const home of [server, client, stranger]) t.is((await run(['keygen', '--home', home])).code, 0);
  t.is((await run(['registry', 'add', '127.0.0.1', join(client, 'id_curvetun.pub'), '--home', server])).code, 0);
  t.is((await run(['registry', 'add', '127.0.0.1', join(server, 'id_curvetun.pub'), '--home', client])).code, 0);

  const serve = await start(['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${redis.port}`, '--home', server, '-v']);
  t.teardown(() => serve.stop().then(() => undefined));
  const tunnel = await start(['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client]);
  t.teardown(() => tunnel.stop().then(() => undefined));

  // Single commands, their replies, and the data really landing in redis.
  t.is((await cli(tunnel.port, 'SET', 'greeting', 'hello through curvetun')).stdout.trim(), 'OK');
  t.is((await cli(tunnel.port, 'GET', 'greeting')).stdout.trim(), 'hello through curvetun');
  t.is((await cli(redis.port, 'GET', 'greeting')).stdout.trim(), 'hello through curvetun');
  // A 500 kB value (several curvetun messages each way), given on stdin with -x.
  const big = 'x'.repeat(500_000);
  t.is((await exec('redis-cli', ['-p', String(tunnel.port), '-x', 'SET', 'big'], big)).stdout.trim(), 'OK');
  t.is((await cli(tunnel.port, 'STRLEN', 'big')).stdout.trim(), '500000');
  t.is((await cli(tunnel.port, 'GET', 'big')).stdout.trim(), big);

  // A pipeline of 1000 commands on one connection.
  const commands = Array.from({ length: 1000 }, (_, i) => `INCR counter`).join('\n') + '\nGET counter\n';
  const piped = await exec('redis-cli', ['-p', String(tunnel.port)], commands);
  const lines = piped.stdout.trim().split('\n');
  t.is(lines.length, 1001);
  t.is(lines[999], '1000');
  t.is(lines[1000], '1000');

  // redis-benchmark, direct and tunnelled.
  const args = ['-n', '20000', '-q', '-t', 'set,get', '-c', '20'];
  const direct = await exec('redis-benchmark', ['-p', String(redis.port), ...args], undefined, 120_000);
  const tunnelled = await exec('redis-benchmark', ['-p', String(tunnel.port), ...args], undefined, 120_000);
  t.is(tunnelled.code, 0, tunnelled.stderr);
  for (const op of ['SET', 'GET']) {
    const d = requestsPerSecond(direct.stdout, op);
    const c = requestsPerSecond(tunnelled.stdout, op);
    t.true(c > 0, `${op} through the tunnel: ${tunnelled.stdout}`);
    t.log(`redis-benchmark ${op}: direct ${d.toFixed(0)} req/s, through curvetun ${c.toFixed(0)} req/s`);
  }

  // Someone who knows the server's key but whose key is not in the server's registry.
  const before = await connectionsReceived(redis.port);
  const rogue = await start(['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', stranger, '--server-key', join(server, 'id_curvetun.pub')]);
  t.teardown(() => rogue.stop().then(() => undefined));
  const attempt = await cli(rogue.port, 'SET', 'intruder', 'yes');
  t.not(attempt.stdout.trim(), 'OK');
  await serve.waitFor('refused peer=127.0.0.1');
  const after = await connectionsReceived(redis.port);
  t.is(after, before + 1, 'only our own INFO connection reached redis');
  t.is((await cli(redis.port, 'EXISTS', 'intruder')).stdout.trim(), '0');
});
