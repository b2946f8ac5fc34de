/**
 * `curvetun serve`, `tunnel` and `echo-server` as services, each a real process on 127.0.0.1:
 * drain on SIGTERM/SIGINT (a connection in flight completes, new ones are refused, exit 0; the
 * rest is closed at the drain timeout or on a second signal), SIGHUP and known_hosts changes
 * (a revoked key loses its connection, a broken file is refused), SIGUSR1 ignored (no inspector),
 * logs in text and JSON (timestamped, peers by fingerprint, never key bytes) and Prometheus
 * metrics scraped over HTTP.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect } from '../lib/api.js';
import { fingerprint } from '../lib/keys/fingerprint.js';
import { loadSecretKeyFile, loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { LocalVault } from '../lib/vault/index.js';
import { ROOT, daemon, keygen, plainEcho, run, scrape, tempDir, twoEnds, value } from './cli-process.js';
import type { Daemon } from './cli-process.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** A TCP client that stays connected: send bytes, read the same number back. */
async function tcpClient(port: number): Promise<{ socket: Socket; echo(text: string): Promise<string>; closed: Promise<void> }> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  let buffered = '';
  let wanted: { length: number; resolve(text: string): void } | null = null;
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    if (wanted && buffered.length >= wanted.length) {
      const { length, resolve } = wanted;
      wanted = null;
      resolve(buffered.slice(0, length));
      buffered = buffered.slice(length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    echo(text) {
      return new Promise((resolve, reject) => {
        wanted = { length: text.length, resolve };
        socket.once('close', () => reject(new Error(`closed before "${text}" came back`)));
        socket.write(text);
      });
    },
  };
}

/** JSON log lines of a daemon, each parsed (a line that is not JSON fails the test). */
function jsonLines(t: ExecutionContext, source: Daemon): Record<string, unknown>[] {
  return source
    .stderr()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        t.fail(`not a JSON line: ${l}`);
        return {};
      }
    });
}

/** Every encoding of every key of these homes that must never be printed (secret, scramble, public). */
function keyMaterial(...homes: string[]): string[] {
  const out: string[] = [];
  for (const home of homes) {
    const secret = loadSecretKeyFile(join(home, 'id_curvetun'));
    const pub = loadPublicKeyFile(join(home, 'id_curvetun.pub'));
    for (const key of [secret.secretKey, secret.scrambleKey, pub]) {
      const bytes = Buffer.from(key);
      // The first 20 characters are enough to spot a key; shorter runs could occur by chance.
      for (const text of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase()]) out.push(text.slice(0, 20));
    }
  }
  return out;
}

function noKeyMaterial(t: ExecutionContext, text: string, homes: string[]): void {
  const lines = text.split('\n');
  for (const needle of keyMaterial(...homes)) {
    const line = lines.find((l) => l.includes(needle));
    t.is(line, undefined, `key bytes in a log line: ${line}`);
  }
}

const fingerprintOf = (home: string) => fingerprint(loadPublicKeyFile(join(home, 'id_curvetun.pub')));

test.serial('SIGTERM drains: the connection in flight completes, new ones are refused, exit 0; the drain timeout closes the rest; JSON logs and metrics follow', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const stranger = join(dir, 'stranger');
  await keygen(stranger, 'stranger');
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const json = ['--log-format', 'json'];
  const serve = await daemon(t, ['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--home', server, '--metrics', '127.0.0.1:0', ...json]);
  const tunnel = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client, '--metrics', '127.0.0.1:0', ...json]);
  const short = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client, '--drain-timeout', '1', ...json]);
  const rogue = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', stranger, '--server-key', join(server, 'id_curvetun.pub'), ...json]);
  const metricsUrl = (JSON.parse(await serve.waitFor('"event":"metrics"')) as { url: string }).url;
  const tunnelMetricsUrl = (JSON.parse(await tunnel.waitFor('"event":"metrics"')) as { url: string }).url;
  const before = await scrape(metricsUrl);
  t.is(value(before, 'curvetun_connections_open'), 0);
  t.is(value(before, 'curvetun_worker_restarts_total{worker="vault"}'), 0);
  t.is(value(before, 'curvetun_worker_restarts_total{worker="registry"}'), 0);
  t.is(value(before, 'curvetun_worker_restarts_total{worker="cookie-keeper"}'), 0);
  t.is(value(before, 'curvetun_bytes_total{direction="up"}'), 0);

  // A connection through the tunnel, carrying bytes.
  const inFlight = await tcpClient(tunnel.port);
  t.is(await inFlight.echo('first request'), 'first request');
  await serve.waitFor('"event":"accepted"');
  const during = await scrape(metricsUrl);
  t.is(value(during, 'curvetun_connections_open'), 1);
  t.is(value(during, 'curvetun_handshakes_total{outcome="accepted",reason="ok"}'), 1);
  t.true(value(during, 'curvetun_handshake_duration_seconds_count')! >= 1);
  t.is(value(during, 'curvetun_bytes_total{direction="up"}'), 'first request'.length);
  t.is(value(during, 'curvetun_bytes_total{direction="down"}'), 'first request'.length);
  t.is(value(await scrape(tunnelMetricsUrl), 'curvetun_connections_open'), 1);

  // A stranger's key is refused, and logged by its fingerprint.
  const strangerConn = await tcpClient(rogue.port);
  strangerConn.socket.write('let me in');
  await strangerConn.closed;
  const refusedLine = JSON.parse(await serve.waitFor('"event":"refused"')) as Record<string, unknown>;
  t.is(refusedLine.level, 'warn');
  t.is(refusedLine.key, fingerprintOf(stranger));
  t.regex(String(refusedLine.reason), /client key refused/);
  t.is(value(await scrape(metricsUrl), 'curvetun_handshakes_total{outcome="refused",reason="key_not_allowed"}'), 1);

  // The short-drain tunnel: an idle connection is closed when its drain timeout passes.
  const idle = await tcpClient(short.port);
  t.is(await idle.echo('idle'), 'idle');
  t.is(await short.stop('SIGTERM'), 0);
  await idle.closed;
  const shortEvents = jsonLines(t, short);
  const shortClosed = shortEvents.find((e) => e.event === 'closed')!;
  t.regex(String(shortClosed.reason), /still open after the drain timeout \(1 s\)/);
  t.like(shortEvents.find((e) => e.event === 'stopped'), { drained: 0, closed: 1 });

  // SIGTERM to serve: it stops accepting at once but the open connection carries on.
  serve.child.kill('SIGTERM');
  await serve.waitFor('"event":"stopping"');
  const refused = tcpConnect({ host: '127.0.0.1', port: serve.port });
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  t.is(error.code, 'ECONNREFUSED');
  t.is(await inFlight.echo('second request, during the drain'), 'second request, during the drain');
  inFlight.socket.end();
  t.is(await serve.exited, 0, 'the drain ended when the last connection did, with exit 0');
  const events = jsonLines(t, serve);
  t.like(events.find((e) => e.event === 'stopping'), { signal: 'SIGTERM', open: 1, drain_timeout_ms: 30_000 });
  t.like(events.find((e) => e.event === 'stopped'), { drained: 1, closed: 0 }, serve.stderr());
  // Two connections ended: the idle one (its tunnel closed it) and the one that was in flight.
  const closed = events.filter((e) => e.event === 'closed');
  t.is(closed.length, 2);
  const idleClosed = closed.find((e) => e.up === 'idle'.length)!;
  // v2: each end sent END, so the close is an honest end, not a bare TCP close.
  t.like(idleClosed, { key: fingerprintOf(client), down: 4, reason: 'both sides ended the connection (END each way)' });
  const inFlightClosed = closed.find((e) => e.up === 45)!;
  t.like(inFlightClosed, { key: fingerprintOf(client), down: 45, reason: 'both sides ended the connection (END each way)' });
  t.regex(String(inFlightClosed.peer), /^127\.0\.0\.1:\d+$/);
  t.is(typeof inFlightClosed.duration_ms, 'number');

  // Every line of every daemon: JSON with an ISO time, a level and an event; no key bytes.
  for (const each of [serve, tunnel, short, rogue]) {
    for (const line of jsonLines(t, each)) {
      t.regex(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      t.true(['debug', 'info', 'warn', 'error'].includes(String(line.level)));
      t.is(typeof line.event, 'string');
    }
    noKeyMaterial(t, each.stderr(), [server, client, stranger]);
  }
  t.like(jsonLines(t, serve)[0], { event: 'start', command: 'serve', version: VERSION });
});

test.serial('SIGHUP and known_hosts edits: a revoked key loses its connection (reason says so), a broken file is refused, a changed server key closes the tunnel\'s sessions, SIGUSR1 is ignored; text logs are timestamped', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const serve = await daemon(t, ['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--home', server, '--verbose']);
  const tunnel = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client]);
  const conn = await tcpClient(tunnel.port);
  t.is(await conn.echo('hello'), 'hello');

  // SIGUSR1: Node would open its inspector; here it is ignored and the service carries on.
  serve.child.kill('SIGUSR1');
  await serve.waitFor('signal signal=SIGUSR1 action=ignored');
  // SIGHUP with nothing changed: a reload, no exit.
  serve.child.kill('SIGHUP');
  await serve.waitFor(/reloaded known_hosts=\S+ changed=false/);
  t.is(await conn.echo('still here'), 'still here');

  // A broken edit is refused: the last good registry stays, and so does the connection.
  const file = join(server, 'known_hosts');
  const good = readFileSync(file, 'utf8');
  const broken = `${good}this line is not an entry\n`;
  writeFileSync(file, broken);
  await serve.waitFor(/warn reload_refused .*known_hosts:\d+: /);
  t.is(await conn.echo('after a bad edit'), 'after a bad edit');

  // The client's line goes: its connection is closed, and the reason says why.
  writeFileSync(file, good.split('\n').filter((l) => !l.startsWith('127.0.0.1')).join('\n'));
  serve.child.kill('SIGHUP');
  const closedLine = await serve.waitFor(/info closed .*reason="closed on registry reload/);
  t.regex(closedLine, /the registry no longer allows this key from 127\.0\.0\.1/);
  t.true(closedLine.includes(`key=${fingerprintOf(client)}`));
  await conn.closed;
  // New connections with that key are refused too.
  const again = await tcpClient(tunnel.port);
  again.socket.write('x');
  await again.closed;
  await serve.waitFor(/warn refused .*client key refused/);

  // The key comes back (through the command, while serve runs): connections work again.
  const beforeAdd = serve.mark(); // the removal above logged a 'reloaded changed=true' already
  t.is((await run(['registry', 'add', '127.0.0.1', join(client, 'id_curvetun.pub'), '--home', server])).code, 0);
  await serve.waitFor(/info reloaded .*changed=true/, undefined, beforeAdd);
  const back = await tcpClient(tunnel.port);
  t.is(await back.echo('back again'), 'back again');
  // The tunnel's own known_hosts now names another key for the server: its session is closed.
  const stranger = join(dir, 'stranger');
  await keygen(stranger, 'stranger');
  // Replaced in one step (as an editor saving through a rename does), then SIGHUP.
  writeFileSync(join(client, 'known_hosts.new'), `127.0.0.1 ${readFileSync(join(stranger, 'id_curvetun.pub'), 'utf8')}`);
  renameSync(join(client, 'known_hosts.new'), join(client, 'known_hosts'));
  tunnel.child.kill('SIGHUP');
  await tunnel.waitFor(`warn server_key_changed to=127.0.0.1:${serve.port} key=${fingerprintOf(stranger)} before=${fingerprintOf(server)}`);
  await tunnel.waitFor(/info closed .*reason="known_hosts no longer names this key for 127\.0\.0\.1"/);
  await back.closed;

  t.is(await serve.stop('SIGINT'), 0);
  t.is(await tunnel.stop('SIGTERM'), 0);
  t.false(/Debugger listening|inspector/i.test(serve.stderr().replace('no inspector in a process that holds a vault', '')), serve.stderr());
  const lines = serve.stderr().trim().split('\n');
  for (const line of lines) t.regex(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) [a-z_]+( |$)/);
  t.regex(lines[0]!, new RegExp(`info start command=serve version=${VERSION.replace(/\./g, '\\.')} pid=\\d+`));
  t.regex(serve.stderr(), /debug config .*crypto=\w+ node=v\d+/, '--verbose adds the configuration');
  t.false(tunnel.stderr().includes('debug config'), 'without --verbose, no debug lines');
  noKeyMaterial(t, serve.stderr() + tunnel.stderr(), [server, client, stranger]);
});

test.serial('a second SIGINT ends the drain at once: the rest is closed, exit 0', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const echo = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--home', server]);
  const vault = await LocalVault.open({ secretKeyFile: join(client, 'id_curvetun') });
  t.teardown(() => vault.close());
  const socket = await connect('127.0.0.1', echo.port, { vault, serverKey: loadPublicKeyFile(join(server, 'id_curvetun.pub')), timeout: 20_000 });
  await socket.send('ping');
  t.is(new TextDecoder().decode(await socket.recv({ timeout: 20_000 })), 'ping');
  echo.child.kill('SIGINT');
  await echo.waitFor('stopping signal=SIGINT open=1 drain_timeout_ms=30000');
  t.is(await echo.stop('SIGINT'), 0);
  t.regex(echo.stderr(), /info closed .*reason="closed on a second SIGINT"/);
  t.regex(echo.stderr(), /info stopped drained=0 closed=1/);
  await t.throwsAsync(socket.recv({ timeout: 20_000 }));
});

test.serial('curvetun send, which holds a vault but no service, ignores SIGUSR1 as well (the guard runs before anything loads)', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const echo = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--home', server]);
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/curvetun.ts', 'send', `127.0.0.1:${echo.port}`, '--home', client, '--wait', '300', '-v'], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.teardown(() => void child.kill('SIGKILL'));
  for (let i = 0; i < 2400 && !stderr.includes('debug connected'); i++) await new Promise((r) => setTimeout(r, 50));
  t.true(stderr.includes('debug connected'), stderr);
  child.kill('SIGUSR1');
  child.stdin.write('after the signal\n');
  for (let i = 0; i < 2400 && !stdout.includes('after the signal'); i++) await new Promise((r) => setTimeout(r, 50));
  child.stdin.end();
  t.is(await exited, 0, stderr);
  t.is(stdout, 'after the signal\n');
  t.false(/Debugger listening|inspector/i.test(stderr), stderr);
});

test('registry: add keeps the comment and says when a line is already there; list shows fingerprints and comments; remove by host, key, pasted line or fingerprint', async (t) => {
  const dir = tempDir(t);
  const home = join(dir, 'home');
  const alice = join(dir, 'alice');
  const bob = join(dir, 'bob');
  await keygen(home, 'me');
  const alicePub = await keygen(alice, 'alice@laptop');
  const bobKey = (await keygen(bob, 'bob@desk')).split(' ')[1]!;
  const aliceKey = alicePub.split(' ')[1]!;
  const aliceFp = fingerprintOf(alice);
  const bobFp = fingerprintOf(bob);
  const known = join(home, 'known_hosts');

  const pasted = await run(['registry', 'add', '10.0.0.0/8', alicePub, '--home', home]);
  t.is(pasted.code, 0, pasted.stderr);
  t.regex(pasted.stderr, new RegExp(`added 10\\.0\\.0\\.0/8 ${aliceFp.replace(/[+/]/g, '\\$&')} \\(alice@laptop\\)`));
  t.is((await run(['registry', 'add', '192.0.2.7', join(bob, 'id_curvetun.pub'), '--home', home])).code, 0);
  t.is((await run(['registry', 'add', '.example.com', aliceKey, '--comment', 'alice, by name', '--home', home])).code, 0);
  const before = readFileSync(known, 'utf8');
  const dup = await run(['registry', 'add', '10.0.0.0/8', aliceKey, '--home', home]);
  t.is(dup.code, 0);
  t.regex(dup.stderr, /is already in .*known_hosts: nothing changed/);
  t.is(readFileSync(known, 'utf8'), before, 'the file is unchanged');

  const list = (await run(['registry', 'list', '--home', home])).stdout.toString().trim().split('\n');
  t.deepEqual(list, [
    `10.0.0.0/8 ${aliceFp} curvetun-x25519 ${aliceKey} alice@laptop`,
    `192.0.2.7 ${bobFp} curvetun-x25519 ${bobKey} bob@desk`,
    `.example.com ${aliceFp} curvetun-x25519 ${aliceKey} alice, by name`,
  ]);

  // By fingerprint: every line of that key goes.
  const byFp = await run(['registry', 'remove', aliceFp, '--home', home]);
  t.is(byFp.code, 0, byFp.stderr);
  t.is(byFp.stderr.trim().split('\n').length, 2);
  t.is((await run(['registry', 'list', '--home', home])).stdout.toString().split('\n')[0]!.split(' ')[0], '192.0.2.7');
  // By key (a pasted .pub line), by bare key, and by host.
  await run(['registry', 'add', '10.0.0.0/8', alicePub, '--home', home]);
  t.is((await run(['registry', 'remove', alicePub, '--home', home])).code, 0);
  await run(['registry', 'add', '10.0.0.0/8', alicePub, '--home', home]);
  t.is((await run(['registry', 'remove', aliceKey, '--home', home])).code, 0);
  t.is((await run(['registry', 'remove', '192.0.2.7', '--home', home])).code, 0);
  const none = await run(['registry', 'remove', bobFp, '--home', home]);
  t.is(none.code, 1);
  t.regex(none.stderr, /nothing in .* matches/);
  t.is((await run(['registry', 'list', '--home', home])).stdout.toString(), '');
});

test('fingerprint: SHA256 + unpadded base64 of the key bytes, the same from a file, a line, a key, keygen and the identity; --version', async (t) => {
  const dir = tempDir(t);
  const home = join(dir, 'home');
  const made = await run(['keygen', '--home', home, '--comment', 'fp test']);
  const pub = made.stdout.toString().trim();
  const key = Buffer.from(pub.split(' ')[1]!, 'base64');
  const expected = `SHA256:${(await import('node:crypto')).createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
  t.true(made.stderr.includes(`fingerprint ${expected}`));
  t.is((await run(['fingerprint', '--home', home])).stdout.toString().trim(), `${expected} fp test`);
  t.is((await run(['fingerprint', join(home, 'id_curvetun.pub')])).stdout.toString().trim(), `${expected} fp test`);
  t.is((await run(['fingerprint', pub])).stdout.toString().trim(), `${expected} fp test`);
  t.is((await run(['fingerprint', pub.split(' ')[1]!])).stdout.toString().trim(), expected);
  const secret = await run(['fingerprint', join(home, 'id_curvetun')]);
  t.is(secret.code, 1);
  t.regex(secret.stderr, /is a secret key file: give its \.pub file/);
  const bad = await run(['fingerprint', 'not-a-key']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /EKEY/);
  const version = await run(['--version']);
  t.is(version.code, 0);
  t.is(version.stdout.toString().trim(), `curvetun ${VERSION}`);
});
