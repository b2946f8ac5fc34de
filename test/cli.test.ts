/**
 * The `curvetun` command run as child processes on 127.0.0.1: usage and exit codes, key files and
 * secrecy, the registry, echo-server + send, serve + tunnel in front of a plain TCP service, and
 * the refusals (unknown client key, forward target not allowed).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { daemon, keygen, oneLine, plainEcho, roundTrip, run, secretOf, tempDir, twoEnds } from './cli-process.js';

const SUBCOMMANDS = ['keygen', 'pubkey', 'fingerprint', 'registry', 'echo-server', 'send', 'cat', 'serve', 'tunnel', 'agent', 'gateway'];

test('usage errors exit 2 with one line; --help on every subcommand exits 0', async (t) => {
  for (const args of [[], ['frobnicate'], ['keygen', '--bogus'], ['serve', '--listen', '127.0.0.1:1'], ['send', '127.0.0.1:99999'], ['registry', 'rename'],
    ['agent', '--to', '127.0.0.1:1'], ['agent', '--to', '127.0.0.1:1', '--allow', '*.example.com'], ['gateway', '--listen', '127.0.0.1:0', '--expose', '127.0.0.1:1=agent'], ['gateway', '--listen', '127.0.0.1:0']]) {
    const r = await run(args);
    t.is(r.code, 2, `curvetun ${args.join(' ')}: ${r.stderr}`);
    t.true(oneLine(r.stderr), r.stderr);
    t.true(r.stderr.startsWith('curvetun: '));
    t.is(r.stdout.length, 0);
  }
  const main = await run(['--help']);
  t.is(main.code, 0);
  for (const name of SUBCOMMANDS) t.true(main.stdout.toString().includes(name === 'cat' ? 'alias: cat' : name));
  for (const name of SUBCOMMANDS) {
    const r = await run([name, '--help']);
    t.is(r.code, 0, name);
    t.regex(r.stdout.toString(), new RegExp(`^Usage: curvetun ${name === 'cat' ? 'send' : name}`));
  }
});

test('serve\'s scale-out options: a PROXY header without trusted balancers, a name as a balancer, an instance or worker count out of range are usage errors', async (t) => {
  const base = ['serve', '--listen', '127.0.0.1:0', '--forward', '127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['--proxy-protocol'], /--proxy-protocol and --trusted-proxy CIDR go together/],
    [['--trusted-proxy', '10.0.0.0/8'], /--proxy-protocol and --trusted-proxy CIDR go together/],
    [['--proxy-protocol', '--trusted-proxy', 'balancer.example'], /IP addresses and CIDR networks only/],
    [['--proxy-protocol', '--trusted-proxy', '*'], /IP addresses and CIDR networks only/],
    [['--instance', '2048'], /--instance must be a whole number from 0 to 2047/],
    [['--instance', '-1'], /--instance/],
    [['--workers', '0'], /--workers must be auto or a number from 1 to 256/],
    [['--workers', 'many'], /--workers must be auto or a number/],
  ];
  for (const [args, message] of cases) {
    const r = await run([...base, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.true(oneLine(r.stderr), r.stderr);
    t.regex(r.stderr, message);
  }
});

test.serial('keygen writes 0600/0644 key files and prints only the public key; pubkey agrees; unsafe or missing keys fail in one line', async (t) => {
  const home = join(tempDir(t), 'home');
  const first = await run(['keygen', '--home', home, '--comment', 'alice@test']);
  t.is(first.code, 0, first.stderr);
  const pub = readFileSync(join(home, 'id_curvetun.pub'), 'utf8').trim();
  t.regex(pub, /^curvetun-x25519 [A-Za-z0-9+/]{43}= alice@test$/);
  t.is(first.stdout.toString().trim(), pub);
  t.is(statSync(join(home, 'id_curvetun')).mode & 0o777, 0o600);
  t.is(statSync(join(home, 'id_curvetun.pub')).mode & 0o777, 0o644);
  const secret = secretOf(home);
  const printed = first.stdout.toString() + first.stderr;
  t.false(printed.includes(secret.slice(0, 24)));
  // The scramble key (second half of the block), as it would look printed on its own.
  t.false(printed.includes(Buffer.from(secret, 'base64').subarray(32).toString('base64').slice(0, 24)));

  const again = await run(['keygen', '--home', home]);
  t.is(again.code, 1);
  t.true(oneLine(again.stderr));
  t.regex(again.stderr, /already exists/);
  t.is(secretOf(home), secret, 'the existing identity is untouched');

  const shown = await run(['pubkey', '--home', home]);
  t.is(shown.code, 0);
  t.is(shown.stdout.toString().trim(), pub);

  chmodSync(join(home, 'id_curvetun'), 0o644);
  const unsafe = await run(['pubkey', '--home', home]);
  t.is(unsafe.code, 1);
  t.true(oneLine(unsafe.stderr));
  t.regex(unsafe.stderr, /chmod 600.*\(EKEY\)$/m);
  t.false(unsafe.stderr.includes(secret.slice(0, 24)));

  const missing = await run(['pubkey', '--key', join(home, 'nope')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no secret key file/);
});

test.serial('registry add, list and remove round-trip through known_hosts; bad input fails cleanly', async (t) => {
  const home = join(tempDir(t), 'home');
  const pub = await keygen(home, 'me');
  const key = pub.split(' ')[1]!;
  t.is((await run(['registry', 'add', '10.0.0.0/8', key, '--home', home])).code, 0);
  t.is((await run(['registry', 'add', '.example.com', pub, '--home', home])).code, 0);
  const listed = await run(['registry', 'list', '--home', home]);
  t.is(listed.code, 0);
  const fp = (await run(['fingerprint', key])).stdout.toString().trim();
  t.regex(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
  t.deepEqual(listed.stdout.toString().trim().split('\n').sort(), [`.example.com ${fp} curvetun-x25519 ${key} me`, `10.0.0.0/8 ${fp} curvetun-x25519 ${key}`]);
  t.true(readFileSync(join(home, 'known_hosts'), 'utf8').includes(key));

  const bad = await run(['registry', 'add', '10.0.0.1', 'c2hvcnQ=', '--home', home]);
  t.is(bad.code, 1);
  t.true(oneLine(bad.stderr));
  t.regex(bad.stderr, /EKEY/);
  const badWho = await run(['registry', 'add', '10.0.0.0/99', key, '--home', home]);
  t.is(badWho.code, 1, badWho.stderr);
  t.true(oneLine(badWho.stderr));

  t.is((await run(['registry', 'remove', '10.0.0.0/8', '--home', home])).code, 0);
  t.is((await run(['registry', 'remove', '10.0.0.0/8', '--home', home])).code, 1, 'nothing left to remove');
  const after = await run(['registry', 'list', '--home', home]);
  t.is(after.stdout.toString().trim(), `.example.com ${fp} curvetun-x25519 ${key} me`);
});

test.serial('echo-server and send: binary stdin comes back byte-identical; an unknown key gets nothing and exits 1', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const echo = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--home', server, '--verbose']);
  const input = randomBytes(300_000);
  const r = await run(['send', `127.0.0.1:${echo.port}`, '--home', client, '--wait', '500']);
  t.is(r.code, 0, r.stderr);
  const r2 = await run(['cat', `127.0.0.1:${echo.port}`, '--home', client, '--wait', '500', '-v'], { input });
  t.is(r2.code, 0, r2.stderr);
  t.true(r2.stdout.equals(input), 'echoed bytes differ');
  t.regex(r2.stderr, new RegExp(`debug closed peer=127\\.0\\.0\\.1:${echo.port} server_key=SHA256:\\S+ up=300000 down=300000 `));
  const clientFingerprint = (await run(['fingerprint', join(client, 'id_curvetun.pub')])).stdout.toString().split(' ')[0]!;
  await echo.waitFor(`up=300000 down=300000`);
  t.true(echo.stderr().includes(`key=${clientFingerprint}`));

  // A stranger knows the server's key but is not in its known_hosts.
  const stranger = join(dir, 'stranger');
  await keygen(stranger, 'stranger');
  const refused = await run(['send', `127.0.0.1:${echo.port}`, '--home', stranger, '--server-key', join(server, 'id_curvetun.pub')], { input: 'let me in' });
  t.is(refused.code, 1);
  t.is(refused.stdout.length, 0);
  t.true(oneLine(refused.stderr));
  t.regex(refused.stderr, /refused our key/);
  await echo.waitFor('refused peer=127.0.0.1');
  t.is(await echo.stop(), 0);
  // Verbose logs name public keys only.
  for (const home of [server, client]) {
    const body = secretOf(home);
    t.false(echo.stderr().includes(body.slice(0, 24)) || r2.stderr.includes(body.slice(0, 24)));
  }
});

test.serial('send takes its version from the known_hosts line (@v1 → v1), --protocol overrides it; a v2-only listener refuses the v1 client', async (t) => {
  const dir = tempDir(t);
  const server = join(dir, 'server');
  const client = join(dir, 'client');
  await Promise.all([keygen(server, 'server'), keygen(client, 'client')]);
  // The server lets this client use v1 too; the client's line for the server says "speak v1".
  for (const [home, other] of [[server, client], [client, server]] as const) {
    const r = await run(['registry', 'add', '--v1', '127.0.0.1', join(other, 'id_curvetun.pub'), '--home', home]);
    t.is(r.code, 0, r.stderr);
  }
  const both = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--home', server]);
  const v2Only = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--home', server, '--protocols', 'v2']);
  const send = (port: number, input: string, ...extra: string[]) => run(['cat', `127.0.0.1:${port}`, '--home', client, '--wait', '500', ...extra], { input });

  const overV1 = await send(both.port, 'over v1');
  t.is(overV1.code, 0, overV1.stderr);
  t.is(overV1.stdout.toString(), 'over v1');
  const refused = await send(v2Only.port, 'over v1 again');
  t.is(refused.code, 1, 'the @v1 line made it speak v1, which this listener does not');
  t.is(refused.stdout.length, 0);
  t.true(oneLine(refused.stderr), refused.stderr);
  const overV2 = await send(v2Only.port, 'over v2', '--protocol', 'v2');
  t.is(overV2.code, 0, overV2.stderr);
  t.is(overV2.stdout.toString(), 'over v2');
});

test.serial('serve + tunnel carry a TCP service both ways; a client key not in the registry never reaches it', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const serve = await daemon(t, ['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--home', server, '-v']);
  const tunnel = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client, '-v']);

  const data = randomBytes(1_000_000);
  const back = await roundTrip(tunnel.port, data);
  t.true(back.equals(data), `got ${back.length} bytes back`);
  t.is(upstream.connections(), 1);
  await tunnel.waitFor(/closed peer=127\.0\.0\.1:\d+ .*server_key=SHA256:\S+ up=1000000 down=1000000 /);
  await serve.waitFor(/closed peer=127\.0\.0\.1:\d+ key=SHA256:\S+ up=1000000 down=1000000 /);

  // Same server key, a key the server does not know: the connection dies, upstream sees nothing.
  const stranger = join(dir, 'stranger');
  await keygen(stranger, 'stranger');
  const rogue = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', stranger, '--server-key', join(server, 'id_curvetun.pub')]);
  const nothing = await roundTrip(rogue.port, Buffer.from('PING\r\n'));
  t.is(nothing.length, 0);
  await serve.waitFor('refused peer=127.0.0.1');
  t.is(upstream.connections(), 1, 'the refused client reached the service');
  t.is(await serve.stop(), 0);
  t.is(await tunnel.stop(), 0);
});

test('serve refuses a forward target outside the allowed addresses before listening', async (t) => {
  const dir = tempDir(t);
  const home = join(dir, 'server');
  await keygen(home, 'server');
  const remote = await run(['serve', '--listen', '127.0.0.1:0', '--forward', '192.0.2.10:6379', '--home', home]);
  t.is(remote.code, 1);
  t.true(oneLine(remote.stderr));
  t.regex(remote.stderr, /forward target 192\.0\.2\.10:6379 is not among the allowed addresses.*EDENIED/);
  t.false(remote.stderr.includes('listening'));
  const narrowed = await run(['serve', '--listen', '127.0.0.1:0', '--forward', '127.0.0.1:6379', '--allow-forward', '127.0.0.2/32', '--home', home]);
  t.is(narrowed.code, 1);
  t.regex(narrowed.stderr, /EDENIED/);
  const badPattern = await run(['serve', '--listen', '127.0.0.1:0', '--forward', '127.0.0.1:6379', '--allow-forward', '300.1.1.1/40', '--home', home]);
  t.is(badPattern.code, 2, badPattern.stderr);
  const noKey = await run(['serve', '--listen', '127.0.0.1:0', '--forward', '127.0.0.1:6379', '--home', join(dir, 'nobody')]);
  t.is(noKey.code, 1);
  t.regex(noKey.stderr, /run: curvetun keygen/);
});
