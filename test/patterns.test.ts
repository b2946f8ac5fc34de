/** Address patterns shared by the registry and the allowed-address filters. */
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { canonicalAddress, matchesAddress, matchesName, parsePattern } from '../lib/net/index.js';

const addressCases: [string, string, boolean][] = [
  ['192.0.2.7', '192.0.2.7', true],
  ['192.0.2.7', '192.0.2.8', false],
  ['192.0.2.7', '::ffff:192.0.2.7', true], // IPv4-mapped IPv6, as dual-stack servers report
  ['::ffff:192.0.2.7', '192.0.2.7', true],
  ['10.0.0.0/8', '10.255.1.2', true],
  ['10.0.0.0/8', '11.0.0.1', false],
  ['10.0.0.0/8', '::ffff:10.1.2.3', true],
  ['192.0.2.0/31', '192.0.2.1', true],
  ['192.0.2.0/31', '192.0.2.2', false],
  ['0.0.0.0/0', '203.0.113.9', true],
  ['0.0.0.0/0', '2001:db8::1', false],
  ['2001:db8::/32', '2001:db8:ffff::1', true],
  ['2001:db8::/32', '2001:db9::1', false],
  ['2001:DB8::1', '2001:db8:0:0:0:0:0:1', true],
  ['::1', '::1', true],
  ['::1', '127.0.0.1', false],
  ['*', '198.51.100.1', true],
  ['*', '::1', true],
  ['example.com', '192.0.2.7', false],
  // IPv4-mapped IPv6 in every spelling Node or a user may produce
  ['127.0.0.1', '::FFFF:127.0.0.1', true],
  ['127.0.0.1', '::ffff:7f00:1', true], // the same address in hex form
  ['::ffff:7f00:1', '127.0.0.1', true],
  ['::ffff:10.0.0.0/104', '10.20.30.40', true], // a mapped network covers the IPv4 addresses in it
  ['::ffff:10.0.0.0/104', '11.0.0.1', false],
  ['10.0.0.0/8', '::ffff:a14:1e28', true], // 10.20.30.40 in hex-mapped form
  ['::ffff:0:0/96', '198.51.100.1', true], // all of IPv4 as a mapped network
  ['::/0', '198.51.100.1', true], // IPv4 peers are their mapped IPv6 form, and ::/0 holds that
  // IPv6 compares by value, not by spelling
  ['2001:db8::1', '2001:0DB8:0000::0001', true],
  ['2001:db8::1', 'fe80::1', false],
  ['fe80::1', 'fe80::1%eth0', true], // a zone id in the peer address is not part of the address
  ['fe80::/10', 'fe80::abcd%lo', true],
  // host bits in a network are masked, as in routing tables
  ['10.1.2.3/8', '10.200.0.1', true],
  ['192.0.2.255/32', '192.0.2.255', true],
  ['192.0.2.255/32', '192.0.2.254', false],
  ['2001:db8::/128', '2001:db8::', true],
  ['2001:db8::/128', '2001:db8::1', false],
  // things that are not addresses never match an address pattern
  ['10.0.0.0/8', 'not-an-address', false],
  ['10.0.0.0/8', '', false],
  ['10.0.0.0/8', '10.0.0.1/8', false],
  ['127.0.0.1', '127.1', false], // shorthand IPv4 is not an address here
];

for (const [pattern, address, expected] of addressCases) {
  test(`address: ${pattern} ${expected ? 'matches' : 'does not match'} ${address}`, (t) => {
    t.is(matchesAddress(parsePattern(pattern), address), expected);
  });
}

const nameCases: [string, string, boolean][] = [
  ['example.com', 'example.com', true],
  ['example.com', 'EXAMPLE.com', true],
  ['example.com', 'example.com.', true],
  ['example.com', 'www.example.com', false], // a plain name is that name only
  ['.example.com', 'example.com', true], // a domain pattern covers the domain itself...
  ['.example.com', 'www.Example.COM', true], // ...and every name below it
  ['.example.com', 'a.b.example.com', true],
  ['.example.com', 'badexample.com', false], // not a label boundary
  ['.example.com', 'example.com.evil.net', false],
  ['.example.com', '192.0.2.7', false], // an IP address never domain-matches
  ['*', 'anything.example', true],
  ['.example.com', 'EXAMPLE.COM.', true], // case and the trailing dot do not matter...
  ['.EXAMPLE.com.', 'www.example.com', true], // ...on either side
  ['EXAMPLE.COM', 'example.com', true],
  ['example.com.', 'example.com', true],
  ['.example.com', '.example.com', false], // a leading dot is not a host name
  ['.example.com', 'example.co', false],
  ['.example.com', 'xexample.com', false],
  ['.com', 'example.com', true], // a whole top-level domain, if you mean it
  ['localhost', 'LOCALHOST', true],
  ['example.com', '::ffff:192.0.2.7', false],
  ['192.0.2.7', 'example.com', false], // an address pattern never matches a name
  ['10.0.0.0/8', 'example.com', false],
  ['.example.com', 'www..example.com', false], // an empty label is not a name
  ['.example.com', 'www.example.com..', false],
];

for (const [pattern, host, expected] of nameCases) {
  test(`name: ${pattern} ${expected ? 'matches' : 'does not match'} ${host}`, (t) => {
    t.is(matchesName(parsePattern(pattern), host), expected);
  });
}

test('malformed patterns are EINVAL with the reason', (t) => {
  const bad = [
    ...['10.0.0.0/33', '10.0.0.0/x', '10.0.0.0/', '/8', '10.0.0.0/8/8', '10.0.0.0/-1', 'fe80::/129', 'fe80::1%eth0/64', '::ffff:10.0.0.0/1000'],
    ...['bad_host!', '-leading.example', 'trailing-.example', '', '  ', '.', '..', '.example..com', 'a b'],
    ...['1.2.3', '010.0.0.1', '127.1', 'host.123'], // read as (shorthand) IPv4 by resolvers: refused as names
    ...['*.example.com', '**', 'example.*'],
    ...[`${'a'.repeat(64)}.example`, `${'a.'.repeat(130)}example`, 'x'.repeat(400)],
  ];
  for (const text of bad) {
    const error = t.throws(() => parsePattern(text), { instanceOf: CurvetunError }, text);
    t.is(error!.code, 'EINVAL', text);
  }
  t.is(t.throws(() => parsePattern(42 as unknown as string))!.constructor, CurvetunError);
  t.regex(t.throws(() => parsePattern('*.example.com'))!.message, /\.example\.com for a domain/);
});

test('an error about a misplaced key never echoes the key', (t) => {
  const keyText = Buffer.alloc(32, 0xab).toString('base64');
  const error = t.throws(() => parsePattern(keyText), { instanceOf: CurvetunError });
  t.false(error!.message.includes(keyText));
  t.false(error!.message.includes(keyText.slice(0, 20)));
});

const canonicalCases: [string, string | null][] = [
  ['192.0.2.7', '192.0.2.7'],
  ['::ffff:192.0.2.7', '192.0.2.7'],
  ['::FFFF:c000:0207', '192.0.2.7'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  ['fe80::1%eth0', 'fe80::1'],
  ['::1', '::1'],
  ['localhost', null],
  ['192.0.2.256', null],
  ['', null],
];

test('canonical addresses: one spelling per address, null for anything else', (t) => {
  for (const [input, expected] of canonicalCases) t.is(canonicalAddress(input), expected, input);
});
