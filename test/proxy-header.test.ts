/**
 * The PROXY protocol parser (lib/net/proxy-header.ts), pure: the specification's examples, every
 * strict refusal, the bounds, and properties over random and mutated inputs: the answer is always
 * a header, `null` (send more) or a CurvetunError EPROTO, never anything else; a valid header's
 * every proper prefix asks for more; bytes after the header are never taken.
 */
import test from 'ava';
import fc from 'fast-check';
import { CurvetunError } from '../lib/errors.js';
import { MAX_PROXY_V1_BYTES, MAX_PROXY_V2_BODY, parseProxyHeader } from '../lib/net/proxy-header.js';
import type { ProxyHeader } from '../lib/net/proxy-header.js';
import { V2_SIGNATURE, v1Header, v2Header } from './helpers/proxy-header.js';

const latin = (s: string) => Buffer.from(s, 'latin1');

/** The parser's answer as data: a header, 'more', or the error code (anything else is thrown on). */
function answer(bytes: Uint8Array): ProxyHeader | 'more' | string {
  try {
    return parseProxyHeader(bytes) ?? 'more';
  } catch (error) {
    if (error instanceof CurvetunError) return error.code;
    throw error;
  }
}

function refused(t: import('ava').ExecutionContext, bytes: Uint8Array, pattern: RegExp): void {
  const error = t.throws(() => parseProxyHeader(bytes), { instanceOf: CurvetunError });
  t.is(error?.code, 'EPROTO');
  t.regex(error?.message ?? '', pattern);
}

test('v1: TCP4 and TCP6 lines give the client and the balancer ends; what follows is not taken', (t) => {
  const line = 'PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n';
  const header = parseProxyHeader(Buffer.concat([latin(line), Buffer.from([0x00, 0x80])]));
  t.deepEqual(header, {
    version: 1,
    command: 'proxy',
    family: 'ipv4',
    source: { address: '192.0.2.7', port: 51234 },
    destination: { address: '198.51.100.1', port: 7000 },
    tlvs: [],
    length: line.length,
  });
  const six = parseProxyHeader(latin('PROXY TCP6 2001:DB8:0::7 ::1 0 65535\r\n'));
  t.like(six, { command: 'proxy', family: 'ipv6', source: { address: '2001:db8::7', port: 0 }, destination: { address: '::1', port: 65535 } });
});

test('v1: UNKNOWN (a balancer\'s own check) carries no address, whatever follows it on the line', (t) => {
  t.like(parseProxyHeader(latin('PROXY UNKNOWN\r\n')), { version: 1, command: 'local', length: 15 });
  t.like(parseProxyHeader(latin('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nHELLO')), { command: 'local', length: 35 });
});

test('v1: strict about everything the specification fixes', (t) => {
  refused(t, latin('PROXY TCP4 192.0.2.7 198.51.100.1 51234\r\n'), /protocol, two addresses/);
  refused(t, latin('PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n'), /protocol, two addresses/);
  refused(t, latin('PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n'), /unknown v1 protocol/);
  refused(t, latin('PROXY TCP4 ::1 198.51.100.1 1 2\r\n'), /not TCP4 addresses/);
  refused(t, latin('PROXY TCP6 192.0.2.7 ::1 1 2\r\n'), /not TCP6 addresses/);
  refused(t, latin('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), /not TCP6 addresses/);
  refused(t, latin('PROXY TCP4 192.0.2.007 198.51.100.1 1 2\r\n'), /not TCP4 addresses/);
  refused(t, latin('PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n'), /not a port/);
  refused(t, latin('PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n'), /not a port/);
  refused(t, latin('PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\r'), /CR not followed by LF/);
  refused(t, latin('PROXY TCP4 192.0.2.7\n198.51.100.1 1 2\r\n'), /control or non-ASCII/);
  refused(t, latin('PROXY TCP4 192.0.2.7 198.51.100.1 1 2\xe9\r\n'), /control or non-ASCII/);
  refused(t, latin('proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n'), /does not start with a PROXY protocol signature/);
});

test('v1: a line is at most 107 bytes; 106 without a CR is refused, not waited on', (t) => {
  const longest = `PROXY UNKNOWN ${'x'.repeat(MAX_PROXY_V1_BYTES - 16)}\r\n`;
  t.is(longest.length, MAX_PROXY_V1_BYTES);
  t.like(parseProxyHeader(latin(longest)), { command: 'local', length: MAX_PROXY_V1_BYTES });
  refused(t, latin(`PROXY UNKNOWN ${'x'.repeat(MAX_PROXY_V1_BYTES - 15)}\r\n`), /no CRLF within the first 107 bytes/);
  refused(t, latin(`PROXY UNKNOWN ${'x'.repeat(200)}`), /no CRLF within/);
  t.is(parseProxyHeader(latin(`PROXY UNKNOWN ${'x'.repeat(MAX_PROXY_V1_BYTES - 16)}`)), null); // 105 bytes: the CR may come
});

test('v2: PROXY over TCP4 and TCP6, TLVs kept; LOCAL carries no address', (t) => {
  const tlv = { type: 0x04, value: new Uint8Array(Buffer.from('a-ignored-noop')) };
  const four = v2Header({ source: '203.0.113.9', destination: '10.0.0.1', sourcePort: 50123, destinationPort: 7000, tlvs: [tlv] });
  t.deepEqual(parseProxyHeader(Buffer.concat([four, Buffer.from('rest')])), {
    version: 2,
    command: 'proxy',
    family: 'ipv4',
    source: { address: '203.0.113.9', port: 50123 },
    destination: { address: '10.0.0.1', port: 7000 },
    tlvs: [tlv],
    length: four.length,
  });
  const six = v2Header({ source: '2001:db8::7', destination: '::1', sourcePort: 1, destinationPort: 2 });
  t.like(parseProxyHeader(six), { family: 'ipv6', source: { address: '2001:db8::7', port: 1 }, destination: { address: '::1', port: 2 }, length: 16 + 36 });
  const local = v2Header({ command: 'local' });
  t.like(parseProxyHeader(local), { version: 2, command: 'local', length: local.length });
});

test('v2: wrong version or command, no TCP address, a lying length or TLV, an oversized body: refused', (t) => {
  const good = v2Header();
  const withByte = (at: number, value: number) => Buffer.from(good.map((b, i) => (i === at ? value : b)));
  refused(t, withByte(12, 0x11), /version 1/);
  refused(t, withByte(12, 0x31), /version 3/);
  refused(t, withByte(12, 0x22), /unknown v2 command 2/);
  refused(t, withByte(12, 0x22).subarray(0, 13), /unknown v2 command/); // decided before the 16 fixed bytes are in
  for (const family of [0x00, 0x12, 0x22, 0x31, 0x32, 0x41]) refused(t, v2Header({ familyByte: family }), /only TCP over IPv4 or IPv6/);
  refused(t, v2Header({ length: 11 }), /cannot hold its 12-byte address block/);
  refused(t, v2Header({ source: '::1', destination: '::2', familyByte: 0x21, length: 35 }), /36-byte address block/);
  refused(t, v2Header({ tlvs: [{ type: 1, value: new Uint8Array(4) }], length: 12 + 2 }), /TLV cut short/);
  const lying = v2Header({ tlvs: [{ type: 2, value: new Uint8Array(10) }] });
  lying.writeUInt16BE(11, 16 + 12 + 1); // the TLV says 11 bytes, 10 follow
  refused(t, lying, /runs 1 bytes past the header/);
  refused(t, v2Header({ tlvs: [{ type: 0xea, value: new Uint8Array(MAX_PROXY_V2_BODY) }] }), /we take at most 2048/);
  refused(t, v2Header({ length: 0xffff }).subarray(0, 16), /a v2 header of 65535 bytes/); // refused before the body is read
  const biggest = v2Header({ tlvs: [{ type: 0xea, value: new Uint8Array(MAX_PROXY_V2_BODY - 12 - 3) }] });
  t.like(parseProxyHeader(biggest), { command: 'proxy', length: 16 + MAX_PROXY_V2_BODY });
});

/** Valid headers of both versions, with TLVs, IPv4 and IPv6. */
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const port = fc.nat(65_535);
const validHeader: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.boolean(), ipv4, ipv4, ipv6, ipv6, port, port).map(([four, a, b, c, d, p, q]) => (four ? v1Header(a, b, p, q) : v1Header(c, d, p, q))),
  fc.constant(latin('PROXY UNKNOWN\r\n')),
  fc
    .tuple(fc.boolean(), ipv4, ipv4, ipv6, ipv6, port, port, fc.array(fc.record({ type: fc.nat(255), value: fc.uint8Array({ maxLength: 200 }) }), { maxLength: 5 }))
    .map(([four, a, b, c, d, p, q, tlvs]) => v2Header(four ? { source: a, destination: b, sourcePort: p, destinationPort: q, tlvs } : { source: c, destination: d, sourcePort: p, destinationPort: q, tlvs })),
  fc.constant(v2Header({ command: 'local' })),
);

test('property: a valid header followed by anything decodes to exactly its own length; every proper prefix asks for more', (t) => {
  fc.assert(
    fc.property(validHeader, fc.uint8Array({ maxLength: 64 }), (header, rest) => {
      const got = answer(Buffer.concat([header, rest]));
      if (typeof got !== 'object' || got.length !== header.length) return false;
      for (let cut = 0; cut < header.length; cut++) if (answer(header.subarray(0, cut)) !== 'more') return false;
      return true;
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test('property: random bytes give a header, "more" or EPROTO, never a crash; random bytes never pass as a header', (t) => {
  const random = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([latin('PROXY '), b])),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([V2_SIGNATURE, b])),
  );
  let headers = 0;
  fc.assert(
    fc.property(random, (bytes) => {
      const got = answer(bytes);
      if (typeof got === 'object') {
        headers++;
        return got.length <= bytes.length;
      }
      return got === 'more' || got === 'EPROTO';
    }),
    { numRuns: 10_000 },
  );
  t.true(headers < 10_000);
});

type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; bit: number } | { kind: 'insert'; at: number; byte: number } | { kind: 'delete'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(bytes: Buffer, m: Mutation): Buffer {
  const at = m.at % (bytes.length + 1);
  switch (m.kind) {
    case 'truncate':
      return bytes.subarray(0, at);
    case 'flip': {
      const out = Buffer.from(bytes);
      if (at < out.length) out[at]! ^= 1 << m.bit;
      return out;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
  }
}

test('property: mutated valid headers give a header, "more" or EPROTO; a decoded one never reaches past its input', (t) => {
  fc.assert(
    fc.property(validHeader, fc.array(mutation, { minLength: 1, maxLength: 4 }), (header, mutations) => {
      const bytes = mutations.reduce(mutate, header);
      const got = answer(bytes);
      if (typeof got === 'object') return got.length <= bytes.length && (got.command === 'local' || (got.source.port <= 65_535 && got.source.address.length > 0));
      return got === 'more' || got === 'EPROTO';
    }),
    { numRuns: 10_000 },
  );
  t.pass();
});
