/** Address patterns shared by the registry and the allowed-address filters. */
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { AddressFilter, matchesAddress, matchesName, parsePattern } from '../lib/net/index.js';

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
];

for (const [pattern, host, expected] of nameCases) {
  test(`name: ${pattern} ${expected ? 'matches' : 'does not match'} ${host}`, (t) => {
    t.is(matchesName(parsePattern(pattern), host), expected);
  });
}

test('malformed patterns are EINVAL with the reason', (t) => {
  for (const bad of ['10.0.0.0/33', '10.0.0.0/x', 'fe80::/129', 'bad_host!', '-leading.example', '', '..']) {
    const error = t.throws(() => parsePattern(bad), { instanceOf: CurvetunError });
    t.is(error!.code, 'EINVAL', bad);
  }
});

test('AddressFilter: addresses synchronously, names and hosts through the resolver', async (t) => {
  const filter = AddressFilter.parse(['127.0.0.0/8', '.example.invalid']);
  t.true(filter.allowsAddress('127.0.0.1'));
  t.true(filter.allowsAddress('::ffff:127.0.0.1'));
  t.false(filter.allowsAddress('::1'));
  t.true(await filter.allowsHost('localhost')); // resolves to 127.0.0.1 (or ::1, which is refused: see next)
  t.true(await filter.allowsHost('host.example.invalid')); // matched by name before any lookup
  t.false(await AddressFilter.parse(['10.0.0.0/8']).allowsHost('127.0.0.1'));
  const byName = AddressFilter.parse(['localhost']);
  t.true(byName.usesNames);
  t.true(await byName.allowsPeer('127.0.0.1'));
  t.false(await byName.allowsPeer('192.0.2.1'));
});
