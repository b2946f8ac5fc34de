/**
 * The server's binding checks, each attacked alone (issue 19): real sockets on 127.0.0.1, real
 * worker vaults, real crypto. Every packet here is valid except for the one binding under test,
 * and each attack has a control built the same way that is accepted, so a test fails if that
 * one check is removed and not merely because the hand-made packet is wrong.
 *
 * - the vouch V must hold this connection's client ephemeral key (else one leaked vouch of a
 *   client logs in as that client for ever);
 * - the cookie K must have been issued for this connection's Hello;
 * - the Hello box must hold exactly 64 zero bytes.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect, CurvetunError } from '../lib/index.js';
import type { Listener, ListenOptions } from '../lib/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { PREFIX_VOUCH, decodePacket, encodeFrame, encodeMessage } from '../lib/protocol/index.js';
import type { Vault } from '../lib/vault/types.js';
import { echoServer, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { handHello, initiatePayload, rawHandshake } from './helpers/raw.js';

const backend = getBackend('auto');
let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

/** A listener that echoes, and the handshake failures it reports, in order. */
async function echoing(t: ExecutionContext, options: ListenOptions = {}): Promise<{ listener: Listener; failures: CurvetunError[] }> {
  const listener = await world.listen({ handshakeTimeout: 5_000, ...options });
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (error) => failures.push(error));
  void echoServer(listener);
  t.teardown(() => listener.close());
  return { listener, failures };
}

/** Poll (bounded: 200 × 25 ms) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!check()) throw new Error(`${what} did not happen within 5 s`);
}

/** An honest client still gets through and is echoed: the server kept serving. */
async function honestEcho(t: ExecutionContext, listener: Listener): Promise<void> {
  const honest = await connect('127.0.0.1', listener.address().port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 5_000 });
  await honest.send('still serving');
  t.is(Buffer.from(await honest.recv({ timeout: 5_000 })).toString(), 'still serving');
  await honest.close();
}

test.serial("a real vouch of an allowed client, sealed for another connection's ephemeral key, is refused (EAUTH); the client never gets a session", async (t) => {
  const { listener, failures } = await echoing(t);
  const port = listener.address().port;
  const serverKey = listener.publicKey;

  // An earlier, real session of client C: its ephemeral key is what a leaked vouch speaks for.
  const earlier = await rawHandshake(port, { backend, vault: world.clientVault, serverKey, sendVouch: true });
  const earlierHello = decodePacket(earlier.hello);
  if (earlierHello.type !== 'hello') throw new Error('the first packet was not a Hello');
  const earlierKey = new Uint8Array(earlierHello.clientEphemeralKey);
  await until(() => listener.stats.accepted === 1, 'the earlier session');
  earlier.tcp.destroy();

  // Client C's own vault seals the vouch, but for the earlier ephemeral key: V is genuine, the
  // Initiate around it is boxed correctly for this connection; only V's content is foreign.
  const inner = world.clientVault;
  const asked: Uint8Array[] = [];
  const leakedVouch: Vault = {
    ...withoutOpenHello(inner),
    seal: (plaintext, prefix, peer) => {
      asked.push(new Uint8Array(plaintext));
      return inner.seal(earlierKey, prefix, peer);
    },
  };
  let outcome: unknown;
  try {
    const socket = await connect('127.0.0.1', port, { protocol: 'v1', vault: leakedVouch, serverKey, timeout: 5_000 });
    t.teardown(() => socket.close());
    // No confirmation in the protocol: the client believes it is connected until the server closes.
    await socket.send('let me in');
    outcome = await socket.recv({ timeout: 5_000 }).then((echo) => `echoed: ${Buffer.from(echo).toString()}`);
  } catch (error) {
    outcome = error;
  }
  t.is(asked.length, 1, 'the client asked its vault for exactly one vouch');
  t.notDeepEqual(asked[0], earlierKey, 'the vouch was asked for this connection and sealed for the other one');
  t.true(outcome instanceof CurvetunError, `the client got no working session (got ${String(outcome)})`);
  await until(() => failures.length === 1, 'the refusal');
  t.is(failures[0]!.code, 'EAUTH');
  t.is(listener.stats.accepted, 1, 'only the earlier, honest session was ever accepted');
  await honestEcho(t, listener);
});

test.serial("a cookie from connection A in connection B's Initiate is refused (EAUTH); B's own cookie is accepted", async (t) => {
  const { listener, failures } = await echoing(t);
  const port = listener.address().port;
  const serverKey = listener.publicKey;
  const clientKey = world.clientVault.publicKey;

  // A: Hello, Cookie, then silence. The attacker holds A's cookie and A's server ephemeral key.
  const a = await handHello(port, { backend, serverKey });
  const fromA = await a.cookie();
  t.teardown(() => a.tcp.destroy());

  // B: its own Hello and Cookie; its Initiate carries A's cookie, boxed to A's server ephemeral
  // key so that it opens with the secret inside A's cookie. The vouch is genuine and for B.
  const b = await handHello(port, { backend, serverKey });
  t.teardown(() => b.tcp.destroy());
  await b.cookie();
  const vouchB = await world.clientVault.seal(b.ephemeral.publicKey, PREFIX_VOUCH, serverKey);
  b.tcp.write(encodeFrame(initiatePayload({ backend, ephemeral: b.ephemeral, serverEphemeralKey: fromA.serverEphemeralKey, cookie: fromA.cookie, clientKey, vouch: vouchB })));
  await within(b.closed, 5_000, 'the server closing B');
  await until(() => failures.length === 1, 'the refusal');
  t.is(failures[0]!.code, 'EAUTH');
  t.is(listener.stats.accepted, 0);

  // Control: the same hand-made Initiate with the connection's own cookie gets in and is echoed.
  const c = await handHello(port, { backend, serverKey });
  const fromC = await c.cookie();
  const vouchC = await world.clientVault.seal(c.ephemeral.publicKey, PREFIX_VOUCH, serverKey);
  c.tcp.write(encodeFrame(initiatePayload({ backend, ephemeral: c.ephemeral, ...fromC, clientKey, vouch: vouchC })));
  t.teardown(() => c.tcp.destroy());
  await until(() => listener.stats.accepted === 1, 'the control handshake');
  t.is(failures.length, 1);
  await honestEcho(t, listener);
});

/** A listener whose vault has no openHello: the server opens the Hello with vault.open instead. */
function withoutOpenHello(inner: Vault): Vault {
  return {
    publicKey: inner.publicKey,
    open: (box, nonce, peer) => inner.open(box, nonce, peer),
    seal: (plaintext, prefix, peer) => inner.seal(plaintext, prefix, peer),
    close: async () => undefined,
  };
}

for (const path of ['openHello', 'open + seal'] as const) {
  test.serial(`a correctly boxed Hello whose plaintext is not 64 zero bytes gets no Cookie (EPROTO), wherever the byte is (vault ${path})`, async (t) => {
    const { listener, failures } = await echoing(t, path === 'openHello' ? {} : { vault: withoutOpenHello(world.serverVault) });
    const port = listener.address().port;
    const serverKey = listener.publicKey;
    for (const [i, at] of [0, 31, 63].entries()) {
      const plaintext = new Uint8Array(64);
      plaintext[at] = 0x01;
      const hand = await handHello(port, { backend, serverKey, plaintext });
      t.teardown(() => hand.tcp.destroy());
      const answer = await hand.next(5_000).then(
        () => 'a Cookie',
        () => 'closed',
      );
      t.is(answer, 'closed', `non-zero byte at ${at}: the server must close, not answer`);
      await until(() => failures.length === i + 1, `the refusal of byte ${at}`);
      t.is(failures[i]!.code, 'EPROTO');
    }
    // Control: the same hand-made Hello with 64 zero bytes gets its Cookie.
    const zeros = await handHello(port, { backend, serverKey });
    t.is((await zeros.cookie()).cookie.length, 96);
    zeros.tcp.destroy();
    await honestEcho(t, listener);
  });
}

test.serial('a Hello or Vouch whose counter field is not 0 or 1 is refused (EPROTO) even though its box opens', async (t) => {
  const { listener, failures } = await echoing(t);
  const port = listener.address().port;
  const serverKey = listener.publicKey;
  const clientKey = world.clientVault.publicKey;
  const hello = await handHello(port, { backend, serverKey, counter: 1 });
  t.teardown(() => hello.tcp.destroy());
  t.is(await hello.next(5_000).then(() => 'a Cookie', () => 'closed'), 'closed');
  await until(() => failures.length === 1, 'the Hello refusal');
  t.is(failures[0]!.code, 'EPROTO');

  for (const counter of [0, 2]) {
    const hand = await handHello(port, { backend, serverKey });
    t.teardown(() => hand.tcp.destroy());
    const fromServer = await hand.cookie();
    const vouch = await world.clientVault.seal(hand.ephemeral.publicKey, PREFIX_VOUCH, serverKey);
    hand.tcp.write(encodeFrame(initiatePayload({ backend, ephemeral: hand.ephemeral, ...fromServer, clientKey, vouch, counter })));
    await within(hand.closed, 5_000, `the server closing a Vouch with counter ${counter}`);
  }
  await until(() => failures.length === 3, 'the Vouch refusals');
  t.deepEqual(failures.map((f) => f.code), ['EPROTO', 'EPROTO', 'EPROTO']);
  t.is(listener.stats.accepted, 0);
});

test.serial("the server wipes the Hello box's key the vault handed it once the Cookie is sealed", async (t) => {
  const inner = world.serverVault;
  const handedOut: Uint8Array[] = [];
  const recording: Vault = {
    ...withoutOpenHello(inner),
    openHello: async (box, nonce, clientEphemeralKey) => {
      const opening = await inner.openHello!(box, nonce, clientEphemeralKey);
      handedOut.push(opening.sharedKey);
      return opening;
    },
  };
  const { listener } = await echoing(t, { vault: recording });
  const hand = await handHello(listener.address().port, { backend, serverKey: listener.publicKey });
  t.teardown(() => hand.tcp.destroy());
  await hand.cookie();
  t.is(handedOut.length, 1);
  t.is(handedOut[0]!.length, 32);
  t.deepEqual(handedOut[0], new Uint8Array(32), 'the key is all zeros once the Cookie is out');
  t.notDeepEqual(hand.helloKey, new Uint8Array(32));
});

test.serial('a vault adapter whose Hello opens to more or fewer than 64 zero bytes gets no Cookie sent (EPROTO)', async (t) => {
  const inner = world.serverVault;
  let length = 63;
  const odd: Vault = {
    ...withoutOpenHello(inner),
    openHello: async (box, nonce, clientEphemeralKey) => ({ ...(await inner.openHello!(box, nonce, clientEphemeralKey)), plaintext: new Uint8Array(length) }),
  };
  const { listener, failures } = await echoing(t, { vault: odd });
  for (const [i, size] of [63, 65].entries()) {
    length = size;
    const hand = await handHello(listener.address().port, { backend, serverKey: listener.publicKey });
    t.teardown(() => hand.tcp.destroy());
    t.is(await hand.next(5_000).then(() => 'a Cookie', () => 'closed'), 'closed', `${size} zero bytes`);
    await until(() => failures.length === i + 1, `the refusal of ${size} bytes`);
    t.is(failures[i]!.code, 'EPROTO');
  }
});

test.serial('a packet of another type where the Vouch belongs is refused as EPROTO, not taken for a Vouch', async (t) => {
  const { listener, failures } = await echoing(t);
  const hand = await handHello(listener.address().port, { backend, serverKey: listener.publicKey });
  t.teardown(() => hand.tcp.destroy());
  await hand.cookie();
  // A Message carrying the Vouch's counter: only its type says it is no Vouch.
  hand.tcp.write(encodeFrame(encodeMessage({ counter: 1, box: new Uint8Array(112) })));
  await within(hand.closed, 5_000, 'the server closing');
  await until(() => failures.length === 1, 'the refusal');
  t.is(failures[0]!.code, 'EPROTO');
  t.regex(failures[0]!.message, /vouch/i);
});
