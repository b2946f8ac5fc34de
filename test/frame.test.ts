/**
 * The frame layer's edges, one rule per test: what `npm run mutate` showed the property tests of
 * test/protocol.test.ts do not pin (the empty and the largest payload, where each error code comes
 * from, payloads handed out as views of the chunk, a zero length split across chunks, and every
 * way a stream can end inside a frame).
 */
import test from 'ava';
import { CurvetunError, ProtocolError } from '../lib/errors.js';
import { FrameDecoder, encodeFrame } from '../lib/protocol/index.js';

const bytes = (...values: number[]) => new Uint8Array(values);

test('encodeFrame: an empty payload is EINVAL, 65 535 bytes is the largest frame, 65 536 is ETOOBIG', (t) => {
  t.is(t.throws(() => encodeFrame(new Uint8Array(0)), { instanceOf: CurvetunError })!.code, 'EINVAL');
  const largest = encodeFrame(new Uint8Array(65_535).fill(9));
  t.is(largest.length, 2 + 65_535);
  t.deepEqual([largest[0], largest[1], largest[2], largest[65_536]], [0xff, 0xff, 9, 9]);
  t.is(t.throws(() => encodeFrame(new Uint8Array(65_536)), { instanceOf: CurvetunError })!.code, 'ETOOBIG');
});

test('a payload wholly inside one chunk is handed out as a view of that chunk, also when it ends the chunk', (t) => {
  const chunk = Buffer.concat([encodeFrame(bytes(1, 2, 3)), encodeFrame(bytes(4, 5))]);
  const [first, last] = new FrameDecoder().push(chunk);
  for (const [payload, at, expected] of [
    [first!, 2, [1, 2, 3]],
    [last!, 7, [4, 5]], // the last byte of the payload is the last byte of the chunk
  ] as const) {
    t.deepEqual([...payload], expected);
    t.is(payload.buffer, chunk.buffer, 'no copy');
    t.is(payload.byteOffset, chunk.byteOffset + at);
  }
});

test('a payload that straddles chunks is copied whole, and the chunks are not kept', (t) => {
  const frame = encodeFrame(bytes(1, 2, 3, 4));
  const decoder = new FrameDecoder();
  const a = frame.slice(0, 3);
  const b = frame.slice(3);
  t.deepEqual(decoder.push(a), []);
  const [payload] = decoder.push(b);
  t.deepEqual([...payload!], [1, 2, 3, 4]);
  t.not(payload!.buffer, a.buffer);
  t.not(payload!.buffer, b.buffer);
});

test('a zero length is EPROTO also when its two bytes arrive in two chunks', (t) => {
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(bytes(0)), []);
  t.is(t.throws(() => decoder.push(bytes(0, 7)), { instanceOf: ProtocolError })!.code, 'EPROTO');
});

test('end() inside a frame is EPROTO at every point: one length byte, the whole length and no payload, part of the payload', (t) => {
  const cases: [string, Uint8Array][] = [
    ['one length byte', bytes(0)],
    ['the length, no payload byte', bytes(0, 5)],
    ['part of the payload', bytes(0, 5, 1, 2)],
  ];
  for (const [what, chunk] of cases) {
    const decoder = new FrameDecoder();
    t.deepEqual(decoder.push(chunk), [], what);
    t.is(t.throws(() => decoder.end(), { instanceOf: ProtocolError }, what)!.code, 'EPROTO', what);
  }
  // Between frames the stream may end.
  const clean = new FrameDecoder();
  t.is(clean.push(Buffer.concat([encodeFrame(bytes(1)), encodeFrame(bytes(2))])).length, 2);
  t.notThrows(() => clean.end());
  t.notThrows(() => new FrameDecoder().end());
});
