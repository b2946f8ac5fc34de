/**
 * A man in the middle who deletes one Message (issue 12, item 1). TCP neither loses nor reorders,
 * so a counter that skips is a deletion: the receiver must end the connection (EPROTO), deliver
 * nothing after the gap, and, in stream mode, fail the stream instead of ending it cleanly.
 * The proxy (test/helpers/proxy.ts) forwards whole frames and drops exactly one. Both versions:
 * v1 carries the counter (it skips); v2 does not, and the next frame opens only under a later
 * counter (lib/connection/session-v2.ts names that a deletion).
 */
import { once } from 'node:events';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect } from '../lib/index.js';
import type { CurvetunError, CurvetunSocket } from '../lib/index.js';
import { MAGIC_MESSAGE } from '../lib/protocol/index.js';
import { V2_MESSAGE_OVERHEAD } from '../lib/protocol/v2/index.js';
import { makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';
import type { Direction } from './helpers/proxy.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

type Protocol = 'v1' | 'v2';

/**
 * Frames before the first Message in each direction. v1: the client sends Hello and Vouch, the
 * server the Cookie; v2: the client Hello and Initiate, the server Cookie and READY. `dropNth` = 1
 * drops the second Message of that direction.
 */
const HANDSHAKE_FRAMES: Record<Protocol, Record<Direction, number>> = { v1: { toServer: 2, toClient: 1 }, v2: { toServer: 2, toClient: 2 } };

/** v1 Messages start with their magic; a v2 DATA frame is its body plus the type byte and tag. */
const isMessage = (protocol: Protocol, payload: Uint8Array, body: number) =>
  protocol === 'v1' ? Buffer.from(payload.subarray(0, 8)).equals(MAGIC_MESSAGE) : payload.length === V2_MESSAGE_OVERHEAD + body;

/** A client and a server connected through a proxy that drops the `dropNth` Message going `direction`. */
async function pairDropping(t: ExecutionContext, protocol: Protocol, direction: Direction, dropNth: number, droppedBody: number) {
  const listener = await world.listen();
  const dropped: Uint8Array[] = [];
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction !== direction || ctx.index !== HANDSHAKE_FRAMES[protocol][direction] + dropNth) return [payload];
    t.true(isMessage(protocol, payload, droppedBody), 'the dropped frame is a Message');
    dropped.push(payload);
    return [];
  });
  t.teardown(() => proxy.close());
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', proxy.port, { protocol, vault: world.clientVault, serverKey: listener.publicKey, timeout: 60_000 });
  t.is(client.protocol, protocol);
  const server = await accepted;
  t.teardown(() => Promise.all([client.close(), server.close()]).then(() => undefined));
  const [sender, receiver] = direction === 'toServer' ? [client, server] : [server, client];
  return { sender, receiver, dropped };
}

/** Every message delivered to `socket` until it closes, and why it closed. */
async function deliveredUntilClose(socket: CurvetunSocket): Promise<{ messages: string[]; reason: CurvetunError }> {
  const messages: string[] = [];
  socket.on('message', (m) => messages.push(Buffer.from(m).toString()));
  socket.on('error', () => undefined);
  const [reason] = (await within(once(socket, 'close'), 60_000, 'the close after the gap')) as [CurvetunError];
  return { messages, reason };
}

for (const [protocol, direction] of (['v1', 'v2'] as const).flatMap((p) => (['toServer', 'toClient'] as const).map((d) => [p, d] as const))) {
  test.serial(`${protocol} message mode, ${direction}: a deleted Message ends the connection EPROTO and nothing after the gap is delivered`, async (t) => {
    const { sender, receiver, dropped } = await pairDropping(t, protocol, direction, 1, 'm2 (deleted)'.length);
    const outcome = deliveredUntilClose(receiver);
    for (const text of ['m1', 'm2 (deleted)', 'm3', 'm4']) await sender.send(text);
    const { messages, reason } = await outcome;
    t.is(dropped.length, 1);
    t.deepEqual(messages, ['m1'], 'only what came before the gap');
    t.is(reason.code, 'EPROTO');
    t.regex(reason.message, /skips 1 message.*deleted/);
    t.is(receiver.closeReason?.code, 'EPROTO');
    await t.throwsAsync(receiver.recv({ timeout: 1000 }), { code: 'ECLOSED' });
  });

  test.serial(`${protocol} stream mode, ${direction}: a deleted Message fails the stream with EPROTO, never a clean 'end'`, async (t) => {
    const { sender, receiver } = await pairDropping(t, protocol, direction, 1, 'second (deleted)|'.length);
    const input = receiver.stream();
    const output = sender.stream();
    output.on('error', () => undefined); // the sender sees the receiver hang up; not what this test is about
    const chunks: Buffer[] = [];
    let ended = false;
    input.on('data', (c: Buffer) => chunks.push(c));
    input.on('end', () => (ended = true));
    const failed = within(once(input, 'error'), 60_000, "the stream's error");
    const closed = within(new Promise((resolve) => input.once('close', resolve)), 60_000, "the stream's close");
    // One write at a time, so each becomes one Message and the proxy drops exactly the second.
    for (const text of ['first|', 'second (deleted)|', 'third|', 'fourth|']) {
      await new Promise<void>((resolve) => output.write(text, () => resolve()));
    }
    const [error] = (await failed) as [CurvetunError];
    await closed;
    t.is(error.code, 'EPROTO');
    t.regex(error.message, /deleted/);
    t.false(ended, "no 'end': the byte stream did not finish, it broke");
    t.is(Buffer.concat(chunks).toString(), 'first|', 'no byte after the gap');
  });
}
