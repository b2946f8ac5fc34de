/**
 * Close reasons say what is known (lib/connection/peer-closed.ts). v1 never confirms a handshake,
 * so "it may have refused our key" is said only when that can be true: our server resets a
 * refused handshake, and a close of an accepted one (at once or later, e.g. `curvetun serve` whose
 * forward target is down) says how long after the handshake it came and what had arrived. v2
 * knows: READY or REJECT with a reason.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect, RejectedError, LocalVault } from '../lib/index.js';
import type { Listener } from '../lib/index.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { daemon, keygen, run, tempDir } from './cli-process.js';
import { failure, makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

const REFUSED = /refused/;

async function listenFor(t: ExecutionContext): Promise<Listener> {
  const listener = await world.listen();
  t.teardown(() => listener.close());
  return listener;
}

test.serial('v1: a refused key reads "may have refused our key" (the server resets)', async (t) => {
  const listener = await listenFor(t);
  const stranger = await world.newVault('stranger-v1');
  const client = await connect('127.0.0.1', listener.address().port, { vault: stranger, serverKey: listener.publicKey, protocol: 'v1', timeout: 30_000 });
  t.teardown(() => client.close());
  const error = await failure(client.recv({ timeout: 30_000 }));
  t.is(error.code, 'ECLOSED');
  t.regex(error.message, /right after the handshake \(it may have refused our key\)/);
});

for (const protocol of ['v1', 'v2'] as const) {
  test.serial(`${protocol}: a server that accepted and closes later does not say "refused"; it says when, and what had arrived`, async (t) => {
    const listener = await listenFor(t);
    const opts = { vault: world.clientVault, serverKey: listener.publicKey, protocol, timeout: 30_000 };
    // Closes after a while, having sent nothing.
    const accepting = listener.accept({ timeout: 30_000 });
    const quiet = await connect('127.0.0.1', listener.address().port, opts);
    t.teardown(() => quiet.close());
    const quietServer = await accepting;
    await new Promise((r) => setTimeout(r, 1200));
    await quietServer.close();
    const silent = await failure(quiet.recv({ timeout: 30_000 }));
    t.is(silent.code, 'ECLOSED');
    t.notRegex(silent.message, REFUSED);
    const accepted = protocol === 'v2' ? 'after accepting our key \\(READY\\)' : 'after the handshake';
    // v2: the server's CLOSE says how it ended; the message says what we know besides.
    const close = protocol === 'v2' ? ' \\(CLOSE code 0\\)' : '';
    t.regex(silent.message, new RegExp(`^the server closed the connection [\\d.]+ (ms|s) ${accepted}, before sending anything${close}$`));

    // Closes at once after sending one message.
    const accepting2 = listener.accept({ timeout: 30_000 });
    const talked = await connect('127.0.0.1', listener.address().port, opts);
    t.teardown(() => talked.close());
    const talkedServer = await accepting2;
    await talkedServer.send('hello');
    await talkedServer.close();
    t.is(new TextDecoder().decode(await talked.recv({ timeout: 30_000 })), 'hello');
    const after = await failure(talked.recv({ timeout: 30_000 }));
    t.notRegex(after.message, REFUSED);
    t.regex(after.message, new RegExp(`^the server closed the connection [\\d.]+ (ms|s) ${accepted}, after sending 5 bytes of messages${close}$`));
  });
}

test.serial('v2: a refusal gives the REJECT reason at connect()', async (t) => {
  const listener = await listenFor(t);
  const stranger = await world.newVault('stranger-v2');
  const error = await failure(connect('127.0.0.1', listener.address().port, { vault: stranger, serverKey: listener.publicKey, protocol: 'v2', timeout: 30_000 }));
  t.true(error instanceof RejectedError);
  t.like(error, { code: 'EAUTH', reason: 'key-not-allowed' });
  t.regex(error.message, /key-not-allowed|not allowed/);
});

test.serial('through `curvetun serve` with its forward target down: v1 and v2 clients are told the server closed after accepting them, not "refused"', async (t) => {
  t.timeout(600_000);
  const dir = tempDir(t);
  const server = join(dir, 'server');
  const client = join(dir, 'client');
  await Promise.all([keygen(server, 'server'), keygen(client, 'client')]);
  const added = await run(['registry', 'add', '--v1', '127.0.0.1', join(client, 'id_curvetun.pub'), '--home', server]);
  t.is(added.code, 0, added.stderr);
  // A port nothing listens on: bind, note, close.
  const down = createServer();
  await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
  const downPort = (down.address() as { port: number }).port;
  await new Promise<void>((r) => down.close(() => r()));

  const serve = await daemon(t, ['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${downPort}`, '--home', server]);
  const vault = await LocalVault.open({ secretKeyFile: join(client, 'id_curvetun') });
  t.teardown(() => vault.close());
  const serverKey = loadPublicKeyFile(join(server, 'id_curvetun.pub'));
  for (const protocol of ['v1', 'v2'] as const) {
    const socket = await connect('127.0.0.1', serve.port, { vault, serverKey, protocol, timeout: 120_000 });
    t.teardown(() => socket.close());
    const error = await failure(socket.recv({ timeout: 120_000 }));
    t.is(error.code, 'ECLOSED');
    t.notRegex(error.message, REFUSED, `${protocol}: ${error.message}`);
    t.regex(error.message, protocol === 'v2' ? /after accepting our key \(READY\), before sending anything \(CLOSE code 0\)$/ : /after the handshake, before sending anything$/);
  }
  // The server's own log says why it closed.
  await serve.waitFor(/closed .*cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);
});
