/**
 * The wire codec against the byte layouts of the protocol, the TEA vectors, the frame decoder
 * under every chunking, and property tests: any bytes decode to a valid packet or to EPROTO.
 */
import test from 'ava';
import fc from 'fast-check';
import { CurvetunError, ProtocolError } from '../lib/errors.js';
import {
  COOKIE_PACKET_BYTES,
  FrameDecoder,
  HELLO_BYTES,
  MAX_MESSAGE_BYTES,
  MESSAGE_FRAME_BOX_OFFSET,
  VOUCH_BYTES,
  allocMessageFrame,
  decodePacket,
  encodeCookie,
  encodeFrame,
  encodeHello,
  encodeMessage,
  encodeVouch,
  longTermNonce,
  scramble,
  shortTermNonce,
  unscramble,
} from '../lib/protocol/index.js';
import type { Packet } from '../lib/protocol/index.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const RUNS = 10_000;

test('TEA scramble: the three vectors of the protocol brief', (t) => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  t.deepEqual(scramble(new Uint8Array(16), new Uint8Array(32)), hex('f986c9b87805cd72762943e5c2b51b10'));
  t.deepEqual(scramble(hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), key), hex('92a1e45d3249c40d929d0c4722ed70c9'));
  t.deepEqual(scramble(hex('0000000000000001 0000000000000000'), key), hex('55afd64c7a6e96c3251fa8f8fe8e4eb6'));
});

/** The TEA variant written the obvious way, in BigInt straight from PROTOCOL.md: the reference for the fast one. */
function referenceScramble(block: Uint8Array, key: Uint8Array): Uint8Array {
  const mask = (1n << 64n) - 1n;
  const b = Buffer.from(block);
  const k = Buffer.from(key);
  let v0 = b.readBigUInt64LE(0);
  let v1 = b.readBigUInt64LE(8);
  const [k0, k1, k2, k3] = [0, 8, 16, 24].map((at) => k.readBigUInt64LE(at)) as [bigint, bigint, bigint, bigint];
  let sum = 0n;
  for (let i = 0; i < 32; i++) {
    sum = (sum + 0x9e3779b97f4a7c15n) & mask;
    v0 = (v0 + ((((v1 << 7n) + k0) & mask) ^ ((v1 + sum) & mask) ^ ((v1 >> 12n) + k1))) & mask;
    v1 = (v1 + ((((v0 << 16n) + k2) & mask) ^ ((v0 + sum) & mask) ^ ((v0 >> 8n) + k3))) & mask;
  }
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(v0, 0);
  out.writeBigUInt64LE(v1, 8);
  return new Uint8Array(out);
}

test('TEA scramble on 32-bit halves equals the BigInt reference on random blocks and keys', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (block, key) => {
      t.deepEqual(scramble(block, key), referenceScramble(block, key));
    }),
    { numRuns: 2000 },
  );
  // Carries at every position: all-ones words and keys.
  t.deepEqual(scramble(fill(16, 0xff), fill(32, 0xff)), referenceScramble(fill(16, 0xff), fill(32, 0xff)));
});

test('TEA unscramble inverts scramble', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (block, key) => {
      t.deepEqual(unscramble(scramble(block, key), key), block);
    }),
    { numRuns: 500 },
  );
});

test('Hello layout: magic · EC · u64 N · 80-byte box = 128 bytes', (t) => {
  const bytes = encodeHello({ clientEphemeralKey: fill(32, 0xaa), counter: 0, box: fill(80, 0xbb) });
  t.deepEqual(bytes, hex(`6c09afb28aa9fafc ${'aa'.repeat(32)} 0000000000000000 ${'bb'.repeat(80)}`));
  t.is(bytes.length, HELLO_BYTES);
});

test('Cookie layout: magic · n16 · 144-byte box = 168 bytes', (t) => {
  const bytes = encodeCookie({ nonce16: fill(16, 0x11), box: fill(144, 0x22) });
  t.deepEqual(bytes, hex(`1c45dcb941c0e3f6 ${'11'.repeat(16)} ${'22'.repeat(144)}`));
  t.is(bytes.length, COOKIE_PACKET_BYTES);
});

test('Vouch layout: magic · K(96) · u64 N · 112-byte box = 224 bytes', (t) => {
  const bytes = encodeVouch({ cookie: fill(96, 0x33), counter: 1, box: fill(112, 0x44) });
  t.deepEqual(bytes, hex(`6c09afb28aa9fafd ${'33'.repeat(96)} 0000000000000001 ${'44'.repeat(112)}`));
  t.is(bytes.length, VOUCH_BYTES);
});

test('Message layout and the frame around it; allocMessageFrame leaves room at the box offset', (t) => {
  const payload = encodeMessage({ counter: 0x0102030405, box: fill(20, 0x55) });
  t.deepEqual(payload, hex(`6d1b39cbf65a11b4 0000000102030405 ${'55'.repeat(20)}`));
  t.deepEqual(encodeFrame(payload), hex(`0024 ${Buffer.from(payload).toString('hex')}`));
  const frame = allocMessageFrame(0x0102030405, 4);
  frame.set(fill(20, 0x55), MESSAGE_FRAME_BOX_OFFSET);
  t.deepEqual(Buffer.from(frame), Buffer.from(encodeFrame(payload)));
});

test('nonces: 16-byte prefix · u64 counter, 8-byte prefix · 16 bytes', (t) => {
  const short = shortTermNonce(new Uint8Array(Buffer.from('CurveCP-client-M')), 2 ** 40 + 7);
  t.deepEqual(short, new Uint8Array([...Buffer.from('CurveCP-client-M'), 0, 0, 1, 0, 0, 0, 0, 7]));
  const long = longTermNonce(new Uint8Array(Buffer.from('CurveCPK')), fill(16, 9));
  t.deepEqual(long, new Uint8Array([...Buffer.from('CurveCPK'), ...fill(16, 9)]));
  t.is(t.throws(() => shortTermNonce(new Uint8Array(8), 1), { instanceOf: CurvetunError })!.code, 'EINVAL');
});

test('decode gives back what encode wrote, as views', (t) => {
  const hello = decodePacket(encodeHello({ clientEphemeralKey: fill(32, 1), counter: 0, box: fill(80, 2) }));
  t.like(hello, { type: 'hello', counter: 0 });
  const vouch = decodePacket(encodeVouch({ cookie: fill(96, 3), counter: 1, box: fill(112, 4) }));
  t.like(vouch, { type: 'vouch', counter: 1 });
  const message = decodePacket(encodeMessage({ counter: Number.MAX_SAFE_INTEGER, box: fill(16, 5) }));
  t.like(message, { type: 'message', counter: Number.MAX_SAFE_INTEGER });
});

test('bad packets: EPROTO with a message that says what is wrong', (t) => {
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /at least 8 bytes/],
    [fill(7, 0x6c), /at least 8 bytes/],
    [hex('0000000000000000 00'), /unknown packet magic/],
    [encodeHello({ clientEphemeralKey: fill(32, 1), counter: 0, box: fill(80, 2) }).subarray(0, 127), /Hello packet is 128 bytes, got 127/],
    [new Uint8Array([...encodeCookie({ nonce16: fill(16, 1), box: fill(144, 2) }), 0]), /Cookie packet is 168 bytes, got 169/],
    [hex('6d1b39cbf65a11b4 0000000000000002 00'), /Message packet is at least 32 bytes/],
    [hex(`6d1b39cbf65a11b4 ffffffffffffffff ${'00'.repeat(16)}`), /beyond 2\^53-1/],
  ];
  for (const [bytes, why] of cases) {
    const error = t.throws(() => decodePacket(bytes), { instanceOf: ProtocolError });
    t.is(error!.code, 'EPROTO');
    t.regex(error!.message, why);
  }
});

test('frames: zero length is EPROTO, a stream that ends inside a frame is EPROTO, sizes are bounded', (t) => {
  t.is(t.throws(() => new FrameDecoder().push(new Uint8Array([0, 0])), { instanceOf: ProtocolError })!.code, 'EPROTO');
  const d = new FrameDecoder();
  t.deepEqual(d.push(new Uint8Array([0, 5, 1, 2])), []);
  t.is(d.buffered, 2); // payload bytes of the unfinished frame
  t.is(t.throws(() => d.end(), { instanceOf: ProtocolError })!.code, 'EPROTO');
  t.is(t.throws(() => encodeFrame(new Uint8Array(65_536)), { instanceOf: CurvetunError })!.code, 'ETOOBIG');
  t.is(t.throws(() => allocMessageFrame(2, MAX_MESSAGE_BYTES + 1), { instanceOf: CurvetunError })!.code, 'ETOOBIG');
  t.is(allocMessageFrame(2, MAX_MESSAGE_BYTES).length, 2 + 65_535);
  for (const bad of [-1, 1.5, Number.NaN]) {
    t.is(t.throws(() => allocMessageFrame(2, bad), { instanceOf: CurvetunError })!.code, 'EINVAL');
  }
  t.is(t.throws(() => allocMessageFrame(-1, 0), { instanceOf: CurvetunError })!.code, 'EINVAL');
  // The largest frame a peer can announce is 65 535 bytes: the decoder never holds more than that.
  const big = new FrameDecoder();
  big.push(new Uint8Array([0xff, 0xff, 1]));
  t.true(big.buffered <= 65_537);
});

test('frames: any split of a stream of frames yields the same payloads (one byte at a time included)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const decoder = new FrameDecoder();
        const out: Uint8Array[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          out.push(...decoder.push(stream.subarray(at, at + n)));
          at += n;
        }
        decoder.end();
        t.deepEqual(out.map((p) => Buffer.from(p)), payloads.map((p) => Buffer.from(p)));
      },
    ),
    { numRuns: 1_000 },
  );
  const oneByOne = new FrameDecoder();
  const frames = Buffer.concat([encodeFrame(fill(3, 1)), encodeFrame(fill(300, 2))]);
  const got: Uint8Array[] = [];
  for (const b of frames) got.push(...oneByOne.push(new Uint8Array([b])));
  t.deepEqual(got.map((g) => g.length), [3, 300]);
});

/** The only two outcomes allowed for any input: a packet, or a ProtocolError. */
function decodeOrEproto(bytes: Uint8Array): Packet | ProtocolError {
  try {
    return decodePacket(bytes);
  } catch (error) {
    if (error instanceof ProtocolError && error.code === 'EPROTO') return error;
    throw error;
  }
}

const validPackets: Record<string, fc.Arbitrary<Uint8Array>> = {
  hello: fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 80, maxLength: 80 })).map(([k, b]) =>
    encodeHello({ clientEphemeralKey: k, counter: 0, box: b }),
  ),
  cookie: fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 144, maxLength: 144 })).map(([n, b]) =>
    encodeCookie({ nonce16: n, box: b }),
  ),
  vouch: fc.tuple(fc.uint8Array({ minLength: 96, maxLength: 96 }), fc.uint8Array({ minLength: 112, maxLength: 112 })).map(([k, b]) =>
    encodeVouch({ cookie: k, counter: 1, box: b }),
  ),
  message: fc.tuple(fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 400 })).map(([n, b]) => encodeMessage({ counter: n, box: b })),
};

/** Truncate, extend, flip bits, or overwrite the magic of a valid packet. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('magic' as const), magic: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
);

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'magic'; magic: Uint8Array };

function mutate(packet: Uint8Array, m: Mutation): Uint8Array {
  const p = new Uint8Array(packet);
  switch (m.kind) {
    case 'truncate':
      return p.subarray(0, m.at % p.length);
    case 'extend':
      return new Uint8Array([...p, ...m.extra]);
    case 'flip':
      p[m.at % p.length]! ^= 1 << m.bit;
      return p;
    default:
      p.set(m.magic, 0);
      return p;
  }
}

for (const [name, arbitrary] of Object.entries(validPackets)) {
  test(`property (${name}): ${RUNS} mutations of valid packets decode to a packet or EPROTO, never anything else`, (t) => {
    let eproto = 0;
    fc.assert(
      fc.property(arbitrary, mutation, (packet, m) => {
        const result = decodeOrEproto(mutate(packet, m));
        if (result instanceof ProtocolError) eproto++;
        else if (result.type === name) t.true(['hello', 'cookie', 'vouch', 'message'].includes(result.type));
      }),
      { numRuns: RUNS },
    );
    t.true(eproto > 0, 'some mutations must be refused');
  });

  test(`property (${name}): valid packets round-trip`, (t) => {
    fc.assert(
      fc.property(arbitrary, (packet) => {
        const decoded = decodePacket(packet);
        t.is(decoded.type as string, name);
      }),
      { numRuns: 2_000 },
    );
  });
}

test(`property: ${RUNS} random byte strings decode to a packet or EPROTO`, (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      decodeOrEproto(bytes);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`property: ${RUNS} random streams through the frame decoder give frames or EPROTO, never more than a frame buffered`, (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 8 }), (chunks) => {
      const d = new FrameDecoder();
      try {
        for (const c of chunks) {
          for (const frame of d.push(c)) decodeOrEproto(frame);
          if (d.buffered > 65_537) throw new Error('decoder buffered more than one frame');
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
