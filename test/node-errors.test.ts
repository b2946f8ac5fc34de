/**
 * Failures keep Node's own error (issue 12, item 9): the curvetun code stays, Node's error is the
 * `cause`, its `errno`/`syscall`/`address`/`port` are copied; a refused connect is `ECONNREFUSED`
 * and a port in use `EADDRINUSE` (Node's names); an AbortSignal's reason is the `cause` of
 * `EABORTED`. Real sockets on 127.0.0.1.
 */
import { createServer, connect as tcpConnect } from 'node:net';
import type { Server, Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CurvetunError, connect, listen } from '../lib/index.js';
import { failure, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { run } from './cli-process.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

/** A port on 127.0.0.1 where nothing listens (it was bound a moment ago, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function nodeCause(t: ExecutionContext, error: CurvetunError, code: string): NodeJS.ErrnoException {
  const cause = error.cause as NodeJS.ErrnoException;
  t.true(cause instanceof Error, 'the cause is Node\'s error');
  t.is(cause.code, code);
  t.is(error.errno, cause.errno);
  t.is(typeof error.errno, 'number');
  t.is(error.syscall, cause.syscall);
  return cause;
}

test('a refused connect is ECONNREFUSED with Node\'s error as cause and its errno, syscall, address, port', async (t) => {
  const port = await closedPort();
  const error = await failure(connect('127.0.0.1', port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, timeout: 60_000 }));
  t.is(error.code, 'ECONNREFUSED');
  t.regex(error.message, new RegExp(`cannot connect to 127.0.0.1:${port}: ECONNREFUSED`));
  nodeCause(t, error, 'ECONNREFUSED');
  t.is(error.syscall, 'connect');
  t.is(error.address, '127.0.0.1');
  t.is(error.port, port);
});

test('listen on a port in use is EADDRINUSE with Node\'s error as cause; another listen failure keeps EINVAL and its cause', async (t) => {
  const first = await world.listen();
  const port = first.address().port;
  const error = await failure(listen(port, { host: '127.0.0.1', vault: world.serverVault, registry: world.registry }));
  t.is(error.code, 'EADDRINUSE');
  nodeCause(t, error, 'EADDRINUSE');
  t.is(error.syscall, 'listen');
  t.is(error.address, '127.0.0.1');
  t.is(error.port, port);
  // 192.0.2.1 (TEST-NET-1) is no address of this machine: Node says EADDRNOTAVAIL, we say EINVAL.
  const other = await failure(listen(0, { host: '192.0.2.1', vault: world.serverVault, registry: world.registry }));
  t.is(other.code, 'EINVAL');
  nodeCause(t, other, 'EADDRNOTAVAIL');
  t.is(other.address, '192.0.2.1');
});

test("an AbortSignal's reason is the cause of EABORTED: before connect, during connect, in recv and in accept", async (t) => {
  const reason = new Error('the user gave up');
  const early = new AbortController();
  early.abort(reason);
  const before = await failure(connect('127.0.0.1', 1, { vault: world.clientVault, serverKey: world.serverVault.publicKey, signal: early.signal }));
  t.is(before.code, 'EABORTED');
  t.is(before.cause, reason);

  // A server that accepts TCP and never answers: the connect is waiting for its Cookie.
  const peers = new Set<Socket>();
  const silent: Server = createServer((s) => peers.add(s.resume()));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const p of peers) p.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  const during = new AbortController();
  const pending = failure(connect('127.0.0.1', (silent.address() as { port: number }).port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, signal: during.signal, timeout: 60_000 }));
  setImmediate(() => during.abort(reason));
  const aborted = await pending;
  t.is(aborted.code, 'EABORTED');
  t.is(aborted.cause, reason);

  const listener = await world.listen();
  const accepting = new AbortController();
  const acceptP = failure(listener.accept({ signal: accepting.signal }));
  accepting.abort(reason);
  const acceptError = await acceptP;
  t.is(acceptError.code, 'EABORTED');
  t.is(acceptError.cause, reason);

  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 60_000 });
  t.teardown(() => client.close());
  (await accepted).close();
  const receiving = new AbortController();
  const recvP = failure(client.recv({ signal: receiving.signal }));
  receiving.abort(); // no reason given: the signal's own AbortError is the cause
  const recvError = await recvP;
  t.is(recvError.code, 'EABORTED');
  t.is((recvError.cause as Error).name, 'AbortError');
});

test('a TCP reset under an established v2 connection: ETRUNCATED (no END or CLOSE came), with Node\'s ECONNRESET as cause and its errno and syscall', async (t) => {
  const listener = await world.listen();
  // A plain TCP relay between client and server, so the test can reset the client's side.
  let toClient: Socket | undefined;
  const relay = createServer((downstream) => {
    toClient = downstream;
    const upstream = tcpConnect({ host: '127.0.0.1', port: listener.address().port });
    downstream.pipe(upstream).pipe(downstream);
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => relay.close(() => r())));
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', (relay.address() as { port: number }).port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 60_000 });
  const server = await accepted;
  t.teardown(() => server.close());
  await server.send('hello');
  t.is(Buffer.from(await client.recv({ timeout: 60_000 })).toString(), 'hello');
  const closed = new Promise<CurvetunError>((resolve) => client.once('close', resolve));
  client.on('error', () => undefined);
  toClient!.resetAndDestroy();
  const reason = await within(closed, 60_000, 'the close after the reset');
  t.is(reason.code, 'ETRUNCATED');
  nodeCause(t, reason, 'ECONNRESET');
  t.is(reason.syscall, 'read');
});

test('the CLI reports a refused connect by its code', async (t) => {
  const port = await closedPort();
  const result = await run(['send', `127.0.0.1:${port}`, '--home', world.dir, '--key', `${world.dir}/client.key`, '--server-key', Buffer.from(world.serverVault.publicKey).toString('base64')], { input: 'x' });
  t.is(result.code, 1);
  t.regex(result.stderr, /ECONNREFUSED/);
});

test('an error no Node error caused has no errno, syscall, address or port at all (as Node leaves them off), so inspect and JSON show only what is set', async (t) => {
  const listener = await world.listen();
  // A wrong server key: curvetun's own failure, with nothing from the operating system behind it.
  const error = await failure(connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: world.clientVault.publicKey, timeout: 60_000 }));
  t.is(error.cause, undefined);
  for (const field of ['errno', 'syscall', 'address', 'port']) t.false(Object.hasOwn(error, field), field);
  t.false(/errno|syscall/.test(JSON.stringify(error)));
});
