/**
 * HandshakeFeed (lib/connection/handshake-feed.ts) on its own: frames queued while the handshake
 * runs, handed to its reader one at a time in arrival order; the read-ahead bound (frames or bytes,
 * whichever comes first, counting only what is still queued) that makes the socket stop reading
 * TCP; a read in progress failed when the handshake is abandoned; the outcome told once. The same
 * end to end, over a real listener: handshake-read-ahead.test.ts.
 */
import test from 'ava';
import { HandshakeFeed } from '../lib/connection/handshake-feed.js';
import { CurvetunError } from '../lib/errors.js';
import { HANDSHAKE_READ_AHEAD_BYTES, HANDSHAKE_READ_AHEAD_FRAMES } from '../lib/limits.js';

const frame = (length: number, fill = 1) => new Uint8Array(length).fill(fill);

test('frames reach the reader in arrival order, queued or awaited; what is left is the first messages', async (t) => {
  const feed = new HandshakeFeed(null, null);
  const waiting = feed.nextFrame();
  feed.push([frame(3, 1), frame(4, 2)]);
  t.deepEqual(await waiting, frame(3, 1), 'an awaited read gets the next frame at once');
  t.deepEqual(await feed.nextFrame(), frame(4, 2), 'a queued frame is handed out next');
  feed.push([frame(5, 3), frame(6, 4)]);
  t.deepEqual(feed.leftovers(), [frame(5, 3), frame(6, 4)]);
});

test(`the read-ahead bound: full at ${HANDSHAKE_READ_AHEAD_FRAMES} queued frames or ${HANDSHAKE_READ_AHEAD_BYTES} queued bytes, whichever first; taken frames no longer count`, (t) => {
  const byFrames = new HandshakeFeed(null, null);
  for (let i = 1; i < HANDSHAKE_READ_AHEAD_FRAMES; i++) t.false(byFrames.push([frame(10)]), `${i} small frames`);
  t.true(byFrames.push([frame(10)]), `${HANDSHAKE_READ_AHEAD_FRAMES} small frames`);

  const byBytes = new HandshakeFeed(null, null);
  t.false(byBytes.push([frame(HANDSHAKE_READ_AHEAD_BYTES - 1)]), 'one byte under the bound');
  t.true(byBytes.push([frame(1)]), 'exactly the bound, in two frames');
  t.true(new HandshakeFeed(null, null).push([frame(HANDSHAKE_READ_AHEAD_BYTES)]), 'one frame of exactly the bound');

  // What the handshake took is no longer held: the count goes down as frames are handed out.
  const drained = new HandshakeFeed(null, null);
  t.true(drained.push([frame(HANDSHAKE_READ_AHEAD_BYTES)]));
  void drained.nextFrame();
  t.false(drained.push([frame(10)]), 'after the big frame was taken, a small one does not fill the feed');
});

test('stop(): a read in progress fails with the reason given, and later frames wait for a new reader', async (t) => {
  const feed = new HandshakeFeed(null, null);
  const reading = feed.nextFrame();
  const reason = new CurvetunError('ECLOSED', 'the connection closed during the handshake');
  feed.stop(reason);
  t.is(await t.throwsAsync(reading), reason);
  feed.push([frame(2, 7)]);
  t.deepEqual(feed.leftovers(), [frame(2, 7)], 'the stopped reader took nothing');
});

test('next() decodes a v1 packet and rejects EPROTO for bytes that are none; the outcome is told once', async (t) => {
  const feed = new HandshakeFeed(null, null);
  feed.push([frame(7, 0xff)]);
  const error = await t.throwsAsync(feed.next(), { instanceOf: CurvetunError });
  t.is(error!.code, 'EPROTO');

  const told: (CurvetunError | null)[] = [];
  const reported = new HandshakeFeed(null, (e) => told.push(e));
  reported.reportOutcome(null);
  reported.reportOutcome(new CurvetunError('ECLOSED', 'later'));
  t.deepEqual(told, [null]);
});
