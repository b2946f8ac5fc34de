/**
 * A v2 client against a hostile server: one that holds the key the client expects (so every box
 * it sends authenticates) but breaks the protocol inside them. It is the library's own server half
 * (lib/connection/handshake-v2-server.ts) on a real loopback socket, with a crypto backend that
 * rewrites the plaintext of its first session message before sealing it, or that sends a control
 * message after the handshake. The client must refuse each with a typed error and never report
 * connected (issue 19: control messages are accepted only where and as the protocol says).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import test from 'ava';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { getBackend } from '../lib/crypto/index.js';
import { getKem } from '../lib/crypto/mlkem.js';
import { serverHandshakeV2 } from '../lib/connection/handshake-v2-server.js';
import type { SessionV2 } from '../lib/connection/session-v2.js';
import { CurvetunError, RejectedError } from '../lib/errors.js';
import { LocalCookieKeeper, connect } from '../lib/index.js';
import { MessageType, encodeReady, encodeReject, writeU32 } from '../lib/protocol/v2/index.js';
import { makeWorld } from './helpers/fixtures.js';
import { frameIO } from './helpers/frame-io.js';
import type { World } from './helpers/fixtures.js';

const nacl = getBackend('tweetnacl');
let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());
/** Every hostile server still open, closed after each test whatever its outcome. */
const open = new Set<{ close(): Promise<void> }>();
test.afterEach.always(async () => {
  for (const server of open) await server.close();
});

/** Rewrites the plaintext of the first session message the server seals (READY or REJECT), in place. */
type Rewrite = (plaintext: Uint8Array) => void;

/** What the hostile server does once its handshake is done. */
type After = (session: SessionV2, socket: Socket) => void;

/** A listening hostile server; its handshakes run to completion on the server's side. */
async function hostileServer(rewrite: Rewrite | null, after: After = () => undefined): Promise<{ port: number; publicKey: Uint8Array; close(): Promise<void> }> {
  const cookies = new LocalCookieKeeper();
  const vault = world.serverVault;
  let rewritten = false;
  // Every box the server seals goes through here; the first one holding 37 bytes that start
  // with READY's or REJECT's type is the first session message.
  const backend: CryptoBackend = {
    ...nacl,
    secretboxInto(out, outOffset, message, nonce, key) {
      if (rewrite && !rewritten && message.length === 37 && (message[0] === MessageType.READY || message[0] === MessageType.REJECT)) {
        rewritten = true;
        rewrite(message);
      }
      nacl.secretboxInto(out, outOffset, message, nonce, key);
    },
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const io = frameIO(socket);
    void (async () => {
      const hello = await io.nextFrame();
      const { session } = await serverHandshakeV2(io, hello, {
        backend,
        kem: getKem(),
        vault,
        cookies,
        suites: [1, 2],
        maxMessageBytes: 1 << 20,
        authorize: async () => ({ allowed: true }),
        hasRoom: () => true,
        busyRetryAfterMs: 1000,
      });
      after(session as SessionV2, socket);
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const handle = {
    port,
    publicKey: vault.publicKey,
    async close() {
      if (!open.delete(handle)) return;
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await cookies.close();
    },
  };
  open.add(handle);
  return handle;
}

async function connectTo(t: import('ava').ExecutionContext, server: { port: number; publicKey: Uint8Array }, postQuantum = true) {
  return connect('127.0.0.1', server.port, { vault: world.clientVault, serverKey: server.publicKey, protocol: 'v2', postQuantum, timeout: 10_000 });
}

test.serial('the hostile server with nothing rewritten is a working v2 server (the baseline of the tests below)', async (t) => {
  const server = await hostileServer(null);
  t.teardown(() => server.close());
  const socket = await connectTo(t, server);
  t.is(socket.protocol, 'v2');
  await socket.close();
});

test.serial('an authenticated first message that is neither READY nor REJECT (DATA) is refused: EPROTO, never connected', async (t) => {
  for (const type of [MessageType.DATA, MessageType.PING, 0x7f]) {
    const server = await hostileServer((plaintext) => {
      plaintext[0] = type;
    });
    const error = await t.throwsAsync(connectTo(t, server), { instanceOf: CurvetunError }, `type 0x${type.toString(16)}`);
    t.is(error!.code, 'EPROTO', `type 0x${type.toString(16)}: ${error!.message}`);
    t.false(error instanceof RejectedError);
    await server.close();
  }
});

test.serial('an authenticated READY announcing a message limit of 0 or above 2^30 is refused: EPROTO', async (t) => {
  for (const limit of [0, 2 ** 30 + 1]) {
    const server = await hostileServer((plaintext) => writeU32(plaintext, 1 + 32, limit));
    const error = await t.throwsAsync(connectTo(t, server), { instanceOf: CurvetunError });
    t.is(error!.code, 'EPROTO', `limit ${limit}: ${error!.message}`);
    await server.close();
  }
});

test.serial('an authenticated REJECT is reported with its reason; one with an unknown reason or a non-zero tail is EPROTO', async (t) => {
  const genuine = await hostileServer((plaintext) => plaintext.set(encodeReject('busy', 2500)));
  const busy = await t.throwsAsync(connectTo(t, genuine), { instanceOf: RejectedError });
  t.is(busy!.code, 'EBUSY');
  t.is((busy as RejectedError).reason, 'busy');
  t.is((busy as RejectedError).retryAfterMs, 2500);
  await genuine.close();
  const refused = await hostileServer((plaintext) => plaintext.set(encodeReject('replay')));
  const replay = await t.throwsAsync(connectTo(t, refused, false), { instanceOf: RejectedError });
  t.is(replay!.code, 'EAUTH');
  t.is((replay as RejectedError).reason, 'replay');
  t.is((replay as RejectedError).retryAfterMs, undefined, 'a retry-after only for busy');
  await refused.close();
  for (const spoil of [(p: Uint8Array) => (p[1] = 0xee), (p: Uint8Array) => (p[36] = 1)]) {
    const server = await hostileServer((plaintext) => {
      plaintext.set(encodeReject('key-not-allowed'));
      spoil(plaintext);
    });
    const error = await t.throwsAsync(connectTo(t, server), { instanceOf: CurvetunError });
    t.is(error!.code, 'EPROTO', error!.message);
    t.false(error instanceof RejectedError);
    await server.close();
  }
});

test.serial('a READY or REJECT sealed after the handshake is refused by the client: EPROTO on recv, no message delivered', async (t) => {
  for (const control of [encodeReady(nacl.randomBytes(32), 1 << 20), encodeReject('busy', 10)]) {
    const server = await hostileServer(null, (session, socket) => {
      socket.write(session.sealControl(control));
      socket.write(session.seal(new TextEncoder().encode('after')));
    });
    const client = await connectTo(t, server);
    t.teardown(() => client.close().catch(() => undefined));
    // The connection ends: recv gives the protocol error, or ECLOSED with it as the cause if the
    // close was noted first.
    const error = await t.throwsAsync(client.recv({ timeout: 10_000 }), { instanceOf: CurvetunError });
    const reason = error!.code === 'ECLOSED' ? (error!.cause as CurvetunError) : error!;
    t.is(reason.code, 'EPROTO', error!.message);
    t.regex(reason.message, control[0] === MessageType.READY ? /a READY after the handshake/ : /a REJECT after the handshake/);
    await t.throwsAsync(client.recv({ timeout: 10_000 }), { instanceOf: CurvetunError }, 'the DATA sealed after it is never delivered');
  }
});
