/**
 * Proof with a service nobody here wrote: redis-server on loopback behind `curvetun serve`, its own
 * redis-cli and redis-benchmark through `curvetun tunnel`. Skipped (not failed) when the redis
 * binaries are not installed; `.ci/run` installs them.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort, run, start } from './cli-process.js';

const REDIS_TOOLS = ['redis-server', 'redis-cli', 'redis-benchmark'];
const missing = REDIS_TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const redisTest = missing.length === 0 ? test.serial : test.skip;
const SKIP_NOTE = missing.length === 0 ? '' : ` [SKIPPED: ${missing.join(', ')} not on PATH; install redis-server and redis-tools]`;
if (missing.length > 0) console.log(`redis tests skipped: ${missing.join(', ')} not on PATH`);

function exec(file: string, args: string[], input?: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

async function startRedis(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await exec('redis-cli', ['-p', String(port), 'PING'], undefined, 2000);
    if (r.stdout.trim() === 'PONG') return { port, child };
    await new Promise((res) => setTimeout(res, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer PING within 10 s');
}

const cli = (port: number, ...args: string[]) => exec('redis-cli', ['-p', String(port), ...args]);

async function connectionsReceived(port: number): Promise<number> {
  const info = (await cli(port, 'INFO', 'stats')).stdout;
  return Number(/total_connections_received:(\d+)/.exec(info)![1]);
}

function requestsPerSecond(output: string, test: string): number {
  const match = new RegExp(`${test}: ([\\d.]+) requests per second`).exec(output);
  return match ? Number(match[1]) : NaN;
}

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
