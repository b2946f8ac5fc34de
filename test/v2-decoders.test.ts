/**
 * Property tests of every v2 decoder: 10 000 random byte strings and 10 000 mutations of a valid
 * packet each (flipped bytes, truncation, extension, a changed suite or type byte) decode to a
 * value or throw `EPROTO`, never another exception; and valid values round-trip.
 */
import test from 'ava';
import fc from 'fast-check';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import {
  SUITE_CLASSICAL,
  SUITE_HYBRID,
  V2_COOKIE_PACKET_BYTES,
  decodeCookieBoxV2,
  decodeCookieContentsV2,
  decodeCookieV2,
  decodeHelloV2,
  decodeInitiatePlaintextV2,
  decodeInitiateV2,
  decodeSessionMessage,
  encodeClose,
  encodeControl,
  encodeCookieBoxV2,
  encodeCookieContentsV2,
  encodeCookieV2,
  encodeFragment,
  encodeHelloV2,
  encodeInitiatePlaintextV2,
  encodeInitiateV2,
  encodeReady,
  encodeReject,
} from '../lib/protocol/v2/index.js';

const rnd = getBackend('tweetnacl').randomBytes;
const RUNS = 10_000;

/** Decoders under test, each with valid samples to mutate. */
const decoders: { name: string; decode(bytes: Uint8Array): unknown; samples: Uint8Array[] }[] = [
  {
    name: 'Hello',
    decode: decodeHelloV2,
    samples: [
      encodeHelloV2({ suite: SUITE_CLASSICAL, clientEphemeralKey: rnd(32), encapsulationKey: new Uint8Array(0), box: rnd(16) }),
      encodeHelloV2({ suite: SUITE_HYBRID, clientEphemeralKey: rnd(32), encapsulationKey: rnd(1184), box: rnd(16) }),
    ],
  },
  {
    name: 'Cookie (suite 1)',
    decode: (b) => decodeCookieV2(b, SUITE_CLASSICAL),
    samples: [encodeCookieV2(SUITE_CLASSICAL, { nonce24: rnd(24), box: rnd(V2_COOKIE_PACKET_BYTES[SUITE_CLASSICAL] - 32) })],
  },
  {
    name: 'Cookie (suite 2)',
    decode: (b) => decodeCookieV2(b, SUITE_HYBRID),
    samples: [encodeCookieV2(SUITE_HYBRID, { nonce24: rnd(24), box: rnd(V2_COOKIE_PACKET_BYTES[SUITE_HYBRID] - 32) })],
  },
  { name: 'Initiate', decode: decodeInitiateV2, samples: [encodeInitiateV2({ cookie: rnd(168), box: rnd(196) })] },
  {
    name: 'Cookie box (suite 2)',
    decode: (b) => decodeCookieBoxV2(SUITE_HYBRID, b),
    samples: [encodeCookieBoxV2(SUITE_HYBRID, { serverEphemeralKey: rnd(32), ciphertext: rnd(1088), cookie: rnd(168) })],
  },
  {
    name: 'cookie contents',
    decode: decodeCookieContentsV2,
    samples: [encodeCookieContentsV2({ clientEphemeralKey: rnd(32), serverEphemeralSecretKey: rnd(32), chainingKey: rnd(32), transcript: rnd(32), expiry: 123_456 })],
  },
  {
    name: 'Initiate plaintext',
    decode: decodeInitiatePlaintextV2,
    samples: [encodeInitiatePlaintextV2({ clientKey: rnd(32), nonce16: rnd(16), vouch: rnd(128), maxMessageBytes: 1 << 24 })],
  },
  {
    name: 'session message',
    decode: decodeSessionMessage,
    samples: [
      encodeReady(rnd(32), 1 << 24),
      encodeReject('busy', 1000),
      Uint8Array.from([0x10, ...rnd(50)]),
      encodeFragment(rnd(100), 100_000),
      encodeFragment(rnd(100)),
      encodeControl('end'),
      encodeControl('key-update'),
      encodeControl('ping', rnd(8)),
      encodeControl('pong', rnd(8)),
      encodeClose(1000, 'bye ☕'),
    ],
  },
];

function onlyProtocolErrors(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): boolean {
  try {
    decode(bytes);
    return true;
  } catch (error) {
    if (error instanceof CurvetunError && error.code === 'EPROTO') return true;
    throw error;
  }
}

const mutation = (samples: Uint8Array[]) =>
  fc
    .record({
      sample: fc.integer({ min: 0, max: samples.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 8 }),
      first: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    })
    .map(({ sample, flips, cut, extra, first }) => {
      let b = samples[sample]!.slice();
      for (const [at, mask] of flips) b[at % b.length]! ^= mask;
      if (first !== undefined) b[b.length > 8 ? 8 : 0] = first; // the suite byte, or a session type byte
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      return extra.length > 0 && cut === undefined ? Uint8Array.from([...b, ...extra]) : b;
    });

for (const d of decoders) {
  test(`property (v2 ${d.name}): ${RUNS} random byte strings decode or give EPROTO, nothing else`, (t) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => onlyProtocolErrors(d.decode, bytes)),
      { numRuns: RUNS },
    );
    t.pass();
  });

  test(`property (v2 ${d.name}): ${RUNS} mutations of valid ones decode or give EPROTO, nothing else`, (t) => {
    fc.assert(fc.property(mutation(d.samples), (bytes) => onlyProtocolErrors(d.decode, bytes)), { numRuns: RUNS });
    for (const sample of d.samples) t.notThrows(() => d.decode(sample), 'the unmutated sample decodes');
  });
}

test('v2 session messages round-trip through their encoders', (t) => {
  const random = rnd(32);
  t.deepEqual(decodeSessionMessage(encodeReady(random, 4096)), { type: 'ready', random, maxMessageBytes: 4096 });
  t.deepEqual(decodeSessionMessage(encodeReject('version-not-allowed')), { type: 'reject', reason: 'version-not-allowed', retryAfterMs: 0 });
  t.deepEqual(decodeSessionMessage(encodeClose(7, 'done')), { type: 'close', code: 7, reason: 'done' });
  t.deepEqual(decodeSessionMessage(encodeControl('end')), { type: 'end' });
  const part = rnd(10);
  t.deepEqual(decodeSessionMessage(encodeFragment(part, 70_000)), { type: 'fragment-first', total: 70_000, part });
  // READY and REJECT have one size.
  t.is(encodeReady(random, 1).length, encodeReject('busy', 5).length);
  // Malformed ones are EPROTO: an unknown type, a REJECT with non-zero padding, a small fragment total.
  for (const bad of [Uint8Array.of(0x99), Uint8Array.from([...encodeReject('busy').subarray(0, 36), 1]), encodeFragment(rnd(10), 100)]) {
    t.is(t.throws(() => decodeSessionMessage(bad), { instanceOf: CurvetunError })!.code, 'EPROTO');
  }
});
