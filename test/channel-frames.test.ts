/**
 * The channel frame codec (lib/channels/frames.ts) against its byte layouts, and property tests:
 * any bytes, and any mutation of a valid frame, decode to a frame or to EPROTO, never anything
 * else; whatever decodes re-encodes to exactly the same bytes (one reading per frame).
 */
import test from 'ava';
import fc from 'fast-check';
import { CurvetunError, ProtocolError } from '../lib/errors.js';
import { MAX_CHANNEL_FRAME_BYTES, MAX_DATA_BYTES, decodeChannelFrame, encodeChannelFrame, encodeData } from '../lib/channels/index.js';
import type { ChannelFrame } from '../lib/channels/index.js';

const RUNS = 10_000;
const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('layouts: each frame type byte for byte', (t) => {
  const enc = (f: ChannelFrame) => Buffer.from(encodeChannelFrame(f)).toString('hex');
  t.is(enc({ type: 'open', channel: 1, window: 0x40000, target: { host: 'db.internal', port: 5432 } }), '01' + '01' + '00000001' + '00040000' + '1538' + '0b' + Buffer.from('db.internal').toString('hex'));
  t.is(enc({ type: 'accept', channel: 2, window: 65536 }), '0102' + '00000002' + '00010000');
  t.is(enc({ type: 'refuse', channel: 3, reason: 'not-allowed' }), '0103' + '00000003' + '01');
  t.is(enc({ type: 'refuse', channel: 3, reason: 'too-many-channels' }), '0103' + '00000003' + '04');
  t.is(enc({ type: 'data', channel: 0xfffffffe, bytes: hex('cafe') }), '0104' + 'fffffffe' + 'cafe');
  t.is(enc({ type: 'eof', channel: 5 }), '0105' + '00000005');
  t.is(enc({ type: 'close', channel: 5, code: 'protocol' }), '0106' + '00000005' + '02');
  t.is(enc({ type: 'window', channel: 7, increment: 1 }), '0107' + '00000007' + '00000001');
  t.is(enc({ type: 'open', channel: 9, window: 1, target: { host: '::FFFF:10.0.0.1', port: 1 } }).slice(20), '0001' + '08' + Buffer.from('10.0.0.1').toString('hex'));
  t.is(enc({ type: 'open', channel: 9, window: 1, target: { host: 'DB.Example.', port: 1 } }).slice(26), Buffer.from('db.example').toString('hex'));
});

test('the largest DATA frame is one v1 message; data joins its pieces in order', (t) => {
  const frame = encodeData(4, [new Uint8Array(MAX_DATA_BYTES - 1).fill(7), new Uint8Array([9])]);
  t.is(frame.length, MAX_CHANNEL_FRAME_BYTES);
  const decoded = decodeChannelFrame(frame);
  t.is(decoded.type, 'data');
  if (decoded.type === 'data') {
    t.is(decoded.bytes.length, MAX_DATA_BYTES);
    t.is(decoded.bytes[MAX_DATA_BYTES - 1], 9);
  }
  t.throws(() => encodeData(4, [new Uint8Array(MAX_DATA_BYTES + 1)]), { instanceOf: CurvetunError, message: /1 to 65497/ });
  t.throws(() => encodeData(4, []), { instanceOf: CurvetunError });
});

test('the encoder refuses what no frame can say (EINVAL)', (t) => {
  const bad: ChannelFrame[] = [
    { type: 'eof', channel: 0 },
    { type: 'eof', channel: 2 ** 32 },
    { type: 'window', channel: 1, increment: 0 },
    { type: 'accept', channel: 1, window: -1 },
    { type: 'open', channel: 1, window: 1, target: { host: 'fe80::1%eth0', port: 1 } },
    { type: 'open', channel: 1, window: 1, target: { host: 'bad host', port: 1 } },
    { type: 'open', channel: 1, window: 1, target: { host: 'a.b', port: 0 } },
    { type: 'open', channel: 1, window: 1, target: { host: 'a.b', port: 65536 } },
    { type: 'open', channel: 1, window: 1, target: { host: `${'a'.repeat(63)}.`.repeat(4) + 'com', port: 1 } },
    { type: 'refuse', channel: 1, reason: 'nope' as never },
    { type: 'close', channel: 1, code: 'nope' as never },
  ];
  for (const frame of bad) {
    const error = t.throws(() => encodeChannelFrame(frame), { instanceOf: CurvetunError }, JSON.stringify(frame));
    t.is(error!.code, 'EINVAL');
  }
});

test('the decoder refuses each broken field with EPROTO', (t) => {
  const cases: [string, string][] = [
    ['', 'at least 6'],
    ['0104000000', 'at least 6'],
    ['0205' + '00000001', 'version 2'],
    ['0005' + '00000001', 'version 0'],
    ['0100' + '00000001', 'type 0'],
    ['0108' + '00000001', 'type 8'],
    ['0105' + '00000000', 'reserved'],
    ['0105' + '00000001' + '00', 'eof frame is 6'],
    ['0102' + '00000001' + '000000', 'accept frame is 10'],
    ['0103' + '00000001' + '00', 'reason 0'],
    ['0103' + '00000001' + '07', 'reason 7'],
    ['0106' + '00000001' + '03', 'close code 3'],
    ['0107' + '00000001' + '00000000', 'at least 1'],
    ['0104' + '00000001', 'at least one byte'],
    ['0101' + '00000001' + '00000001' + '0001' + '00', 'at least 14'],
    ['0101' + '00000001' + '00000001' + '0000' + '01' + '61', 'port'],
    ['0101' + '00000001' + '00000001' + '0001' + '02' + '61', 'open frame is 15'],
    ['0101' + '00000001' + '00000001' + '0001' + '01' + '41', 'canonical'], // 'A': upper case
    ['0101' + '00000001' + '00000001' + '0001' + '02' + '612e', 'canonical'], // 'a.': trailing dot
    ['0101' + '00000001' + '00000001' + '0001' + '03' + '3a3a31', ''], // '::1' is canonical: decodes
    ['0101' + '00000001' + '00000001' + '0001' + '03' + '3a3a41', 'canonical'], // '::A'
    ['0101' + '00000001' + '00000001' + '0001' + '08' + '312e322e332e34', 'open frame is 21 bytes, got 20'],
  ];
  for (const [h, why] of cases) {
    const input = hex(h);
    if (why === '') {
      t.notThrows(() => decodeChannelFrame(input));
      continue;
    }
    const error = t.throws(() => decodeChannelFrame(input), { instanceOf: ProtocolError }, h);
    t.regex(error!.message, new RegExp(why), h);
    t.is(error!.code, 'EPROTO');
  }
  const huge = new Uint8Array(MAX_CHANNEL_FRAME_BYTES + 1);
  huge.set(hex('0104' + '00000001'));
  t.throws(() => decodeChannelFrame(huge), { instanceOf: ProtocolError, message: /at most 65503/ });
});

// ---- properties -----------------------------------------------------------------------------

const channelId = fc.integer({ min: 1, max: 0xffffffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const label = fc.stringMatching(/^[a-z0-9_]([a-z0-9_-]{0,10}[a-z0-9_])?$/);
const hostName = fc
  .tuple(fc.array(label, { minLength: 0, maxLength: 3 }), fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/))
  .map(([labels, tld]) => [...labels, tld].join('.'));
const host = fc.oneof(hostName, fc.ipV4(), fc.ipV6().map((a) => a.toUpperCase()), fc.constant('::ffff:192.0.2.1'));
const frameArb: fc.Arbitrary<ChannelFrame> = fc.oneof(
  fc.record({ type: fc.constant('open' as const), channel: channelId, window: u32, target: fc.record({ host, port: fc.integer({ min: 1, max: 65535 }) }) }),
  fc.record({ type: fc.constant('accept' as const), channel: channelId, window: u32 }),
  fc.record({ type: fc.constant('refuse' as const), channel: channelId, reason: fc.constantFrom('not-allowed', 'connection-refused', 'timed-out', 'too-many-channels', 'unreachable', 'failed') }),
  fc.record({ type: fc.constant('data' as const), channel: channelId, bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
  fc.record({ type: fc.constant('eof' as const), channel: channelId }),
  fc.record({ type: fc.constant('close' as const), channel: channelId, code: fc.constantFrom('done', 'aborted', 'protocol') }),
  fc.record({ type: fc.constant('window' as const), channel: channelId, increment: fc.integer({ min: 1, max: 0xffffffff }) }),
);

/** Decode; the outcome must be a frame that re-encodes to the same bytes, or EPROTO. */
function frameOrEproto(input: Uint8Array): 'frame' | 'EPROTO' {
  let frame: ChannelFrame;
  try {
    frame = decodeChannelFrame(input);
  } catch (error) {
    if (error instanceof ProtocolError && error.code === 'EPROTO') return 'EPROTO';
    throw error;
  }
  if (!Buffer.from(encodeChannelFrame(frame)).equals(Buffer.from(input))) throw new Error('a decoded frame did not re-encode to its bytes');
  return 'frame';
}

test('property: every valid frame round-trips, canonical host and all', (t) => {
  fc.assert(
    fc.property(frameArb, (frame) => {
      const bytes = encodeChannelFrame(frame);
      const decoded = decodeChannelFrame(bytes);
      t.is(decoded.type, frame.type);
      t.is(decoded.channel, frame.channel);
      t.deepEqual(encodeChannelFrame(decoded), bytes);
      if (frame.type === 'data' && decoded.type === 'data') t.deepEqual(Buffer.from(decoded.bytes), Buffer.from(frame.bytes));
    }),
    { numRuns: RUNS },
  );
});

test(`property: ${RUNS} random byte strings decode to a frame or EPROTO, never anything else`, (t) => {
  // Half start with a valid version and type, so the bodies get tested too, not just the header.
  const plausible = fc
    .tuple(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ minLength: 0, maxLength: 300 }))
    .map(([type, rest]) => Uint8Array.from([1, type, ...rest]));
  const outcomes = { frame: 0, EPROTO: 0 };
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), plausible), (input) => {
      outcomes[frameOrEproto(input)]++;
    }),
    { numRuns: RUNS },
  );
  t.true(outcomes.frame > 0 && outcomes.EPROTO > 0, JSON.stringify(outcomes));
});

test(`property: ${RUNS} mutations of valid frames decode to a frame or EPROTO, never anything else`, (t) => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  );
  const outcomes = { frame: 0, EPROTO: 0 };
  fc.assert(
    fc.property(frameArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, mutations) => {
      let bytes = Uint8Array.from(encodeChannelFrame(frame));
      for (const m of mutations) {
        if (m.kind === 'extend') bytes = Uint8Array.from([...bytes, ...m.extra]);
        else if (bytes.length === 0) continue;
        else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % bytes.length);
        else if (m.kind === 'flip') bytes[m.at % bytes.length]! ^= 1 << m.bit;
        else bytes[m.at % bytes.length] = m.value;
      }
      outcomes[frameOrEproto(bytes)]++;
    }),
    { numRuns: RUNS },
  );
  t.true(outcomes.frame > 0 && outcomes.EPROTO > 0, JSON.stringify(outcomes));
});
