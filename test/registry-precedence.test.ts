/**
 * Which key a client expects from a host (issue 12, item 3): a line naming the host beats lines
 * that only match an address it resolved to, whatever the file order; two different keys at the
 * winning precedence are EKEY naming both lines. Every layout over parsed lines (the resolved
 * addresses given, so no DNS), then the issue's own case through the real registry worker and a
 * real connect().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { connect } from '../lib/index.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { lookupKey, precedence } from '../lib/registry/core.js';
import { parseRegistry } from '../lib/registry/file.js';
import { openRegistry } from '../lib/registry/index.js';
import { parsePattern } from '../lib/net/patterns.js';
import { makeWorld } from './helpers/fixtures.js';

const backend = getBackend('tweetnacl');
const dir = mkdtempSync(join(tmpdir(), 'curvetun-precedence-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** A few distinct keys, by letter. */
const keys: Record<string, Uint8Array> = Object.fromEntries(['A', 'B', 'C', 'D', 'E', 'F'].map((k) => [k, backend.keyPair().publicKey]));
const nameOf = (key: Uint8Array | undefined) => Object.keys(keys).find((k) => key !== undefined && Buffer.from(keys[k]!).equals(Buffer.from(key))) ?? 'none';

const HOST = 'svc.corp.example';
const RESOLVED = ['192.0.2.7', '2001:db8::7'];

/** `lines`: "<pattern> <key letter>" each. Returns the letter of the key lookupKey picks, or the EKEY message. */
async function pick(lines: string[], host = HOST, addresses: readonly string[] = RESOLVED): Promise<string> {
  const text = lines.map((l) => {
    const [who, letter] = l.split(' ');
    return `${who} ${encodePublicKeyText(keys[letter!]!)}`;
  });
  const entries = parseRegistry(text.join('\n'), 'known_hosts');
  try {
    return nameOf(await lookupKey(entries, host, { addresses, file: 'known_hosts' }));
  } catch (error) {
    if (error instanceof CurvetunError && error.code === 'EKEY') return `EKEY ${error.message}`;
    throw error;
  }
}

/** Each layout: its lines (in file order) and the key the client must expect. Every one is also checked reversed. */
const layouts: [string, string[], string][] = [
  // one kind of line alone
  ['exact name', ['svc.corp.example A'], 'A'],
  ['domain', ['.corp.example A'], 'A'],
  ['domain matching the name itself', ['.svc.corp.example A'], 'A'],
  ['exact address (IPv4)', ['192.0.2.7 A'], 'A'],
  ['exact address (IPv6)', ['2001:db8::7 A'], 'A'],
  ['CIDR', ['192.0.2.0/24 A'], 'A'],
  ['*', ['* A'], 'A'],
  ['nothing matches', ['other.example A', '.other.example B', '198.51.100.1 C', '10.0.0.0/8 D'], 'none'],
  // a line naming the host beats every line matching only its addresses (the case)
  ['exact name over exact address', ['192.0.2.7 A', 'svc.corp.example B'], 'B'],
  ['domain over exact address', ['192.0.2.7 A', '.corp.example B'], 'B'],
  ['domain over CIDR', ['192.0.2.0/24 A', '.example B'], 'B'],
  ['exact name over domain', ['.corp.example A', 'svc.corp.example B'], 'B'],
  ['longer domain over shorter', ['.example A', '.corp.example B'], 'B'],
  // among address lines: exact, then the longer prefix, then *
  ['exact address over CIDR', ['192.0.2.0/24 A', '192.0.2.7 B'], 'B'],
  ['longer prefix over shorter', ['192.0.0.0/16 A', '192.0.2.0/24 B'], 'B'],
  ['IPv4 /16 over IPv6 /64 (fewer host bits left)', ['2001:db8::/64 A', '192.0.0.0/16 B'], 'B'],
  ['CIDR over *', ['* A', '192.0.2.0/24 B'], 'B'],
  ['domain over *', ['* A', '.example B'], 'B'],
  ['all five kinds', ['* A', '192.0.0.0/16 B', '192.0.2.7 C', '.corp.example D', 'svc.corp.example E'], 'E'],
  ['all but the name', ['* A', '192.0.0.0/16 B', '192.0.2.7 C', '.corp.example D'], 'D'],
  // ties with the same key are no conflict
  ['two exact name lines, same key', ['svc.corp.example A', 'SVC.corp.example. A'], 'A'],
  ['two address lines for the two resolved addresses, same key', ['192.0.2.7 A', '2001:db8::7 A'], 'A'],
  ['two * lines, same key', ['* A', '* A'], 'A'],
  // a conflict below the winning precedence does not matter
  ['name line above conflicting address lines', ['192.0.2.7 A', '2001:db8::7 B', 'svc.corp.example C'], 'C'],
  ['exact address above conflicting CIDRs', ['192.0.2.0/24 A', '2001:db8::/120 B', '192.0.2.7 C'], 'C'],
];

for (const [name, lines, expected] of layouts) {
  test(`lookup by name, ${name}: ${expected}`, async (t) => {
    t.is(await pick(lines), expected, lines.join(' | '));
    t.is(await pick([...lines].reverse()), expected, 'file order does not matter');
  });
}

/** Ties with different keys: the lines (in order) and the two line numbers the error must name. */
const conflicts: [string, string[], [number, number]][] = [
  ['two exact name lines', ['svc.corp.example A', '* C', 'svc.corp.example B'], [1, 3]],
  ['the same domain twice', ['.corp.example A', '.corp.example B'], [1, 2]],
  ['two exact addresses the name resolved to', ['192.0.2.7 A', '2001:db8::7 B'], [1, 2]],
  ['an IPv4 /24 and an IPv6 /120 (8 host bits each)', ['192.0.2.0/24 A', '2001:db8::/120 B'], [1, 2]],
  ['two CIDRs of one size', ['192.0.2.0/24 A', '192.0.2.0/24 B'], [1, 2]],
  ['two * lines', ['* A', '* B'], [1, 2]],
];

for (const [name, lines, [first, second]] of conflicts) {
  test(`lookup by name, a tie with different keys is EKEY naming both lines: ${name}`, async (t) => {
    const answer = await pick(lines);
    t.regex(answer, /^EKEY /);
    t.true(answer.includes(`known_hosts:${first} `), answer);
    t.true(answer.includes(`known_hosts:${second} `), answer);
    t.regex(answer, /same precedence/);
    t.notRegex(answer, /[A-Za-z0-9+/]{43}=/, 'no key in the message');
  });
}

test('lookup by address: name and domain lines never match; exact address, then CIDR, then *', async (t) => {
  const all = ['* A', '192.0.2.0/24 B', '192.0.2.7 C', 'svc.corp.example D', '.corp.example E'];
  t.is(await pick(all, '192.0.2.7'), 'C');
  t.is(await pick(all, '192.0.2.8'), 'B');
  t.is(await pick(all, '198.51.100.1'), 'A');
  t.is(await pick(['svc.corp.example D', '.example E'], '192.0.2.7'), 'none', 'no reverse DNS');
  t.is(await pick(['192.0.2.7 C'], '::ffff:192.0.2.7'), 'C', 'a mapped address is its IPv4 address');
  t.regex(await pick(['192.0.2.7 A', '192.0.2.7 B'], '192.0.2.7'), /^EKEY .*known_hosts:1 .*known_hosts:2 /);
});

test('the precedence ranks: name > domains (longer first) > exact address > networks (fewer host bits first) > *', (t) => {
  const order = ['svc.corp.example', '.svc.corp.example', '.corp.example', '192.0.2.7', '192.0.2.0/24', '192.0.0.0/16', '2001:db8::/64', '*'];
  const ranks = order.map((p) => precedence(parsePattern(p)).rank);
  for (let i = 1; i < ranks.length; i++) t.true(ranks[i - 1]! > ranks[i]!, `${order[i - 1]} over ${order[i]}`);
  t.is(precedence(parsePattern('10.0.0.0/24')).rank, precedence(parsePattern('2001:db8::/120')).rank);
});

test("the issue's case through the registry worker and the real resolver: 'localhost' (or '.localhost') beats '127.0.0.1'", async (t) => {
  for (const nameLine of ['localhost', '.localhost']) {
    const file = join(dir, `known_hosts.${nameLine}`);
    writeFileSync(file, `127.0.0.1 ${encodePublicKeyText(keys.A!)}\n::1 ${encodePublicKeyText(keys.A!)}\n${nameLine} ${encodePublicKeyText(keys.B!)}\n`);
    const registry = await openRegistry({ file, logProblems: false });
    t.teardown(() => registry.close());
    t.is(nameOf(await registry.lookup('localhost')), 'B', nameLine);
    t.is(nameOf(await registry.lookup('127.0.0.1')), 'A', 'by address, the address line');
  }
  const file = join(dir, 'known_hosts.tie');
  writeFileSync(file, `# two keys for one name\nlocalhost ${encodePublicKeyText(keys.A!)}\nlocalhost ${encodePublicKeyText(keys.B!)}\n`);
  const registry = await openRegistry({ file, logProblems: false });
  t.teardown(() => registry.close());
  const error = await t.throwsAsync(registry.lookup('localhost'));
  t.is((error as CurvetunError).code, 'EKEY');
  t.true(error!.message.includes(`${file}:2 (localhost)`) && error!.message.includes(`${file}:3 (localhost)`), error!.message);
});

test("connect('localhost') without serverKey trusts the 'localhost' line, not the '127.0.0.1' line", async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const accepted = listener.accept({ timeout: 60_000 });
  const registry = await world.newRegistry('client_known_hosts');
  await registry.add({ who: '127.0.0.1', key: keys.A! }); // not the server's key
  await registry.add({ who: '::1', key: keys.A! });
  await registry.add({ who: 'localhost', key: listener.publicKey });
  // Dial 127.0.0.1 only (the listener is there), but look the key up by the name.
  const lookup = (_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
  const client = await connect('localhost', listener.address().port, { vault: world.clientVault, registry, lookup: lookup as never, timeout: 60_000 });
  t.teardown(() => client.close());
  t.deepEqual(client.peerKey, listener.publicKey);
  await (await accepted).close();
});

test('the @v1 marker comes from the line the key comes from: same precedence, asked with the dialled addresses; a tie in the marker alone is EKEY', async (t) => {
  const file = join(dir, 'known_hosts.v1');
  writeFileSync(file, `@v1 127.0.0.1 ${encodePublicKeyText(keys.A!)}\nlocalhost ${encodePublicKeyText(keys.B!)}\n@v1 .v1only.example ${encodePublicKeyText(keys.C!)}\n`);
  const registry = await openRegistry({ file, logProblems: false });
  t.teardown(() => registry.close());
  const byName = await registry.lookupEntry('localhost', ['127.0.0.1']);
  t.is(nameOf(byName?.key), 'B');
  t.false(byName?.v1, "the name line (unmarked) beats the address line's @v1");
  t.true((await registry.lookupEntry('127.0.0.1'))?.v1, 'by address, the marked address line');
  t.true((await registry.lookupEntry('other.example', ['127.0.0.1']))?.v1, 'a name without a line of its own: the dialled address decides');
  t.true((await registry.lookupEntry('a.v1only.example', ['198.51.100.1']))?.v1);

  const tie = join(dir, 'known_hosts.v1tie');
  writeFileSync(tie, `localhost ${encodePublicKeyText(keys.A!)}\n@v1 localhost ${encodePublicKeyText(keys.A!)}\n`);
  const tied = await openRegistry({ file: tie, logProblems: false });
  t.teardown(() => tied.close());
  const error = await t.throwsAsync(tied.lookupEntry('localhost', ['127.0.0.1']));
  t.is((error as CurvetunError).code, 'EKEY');
  t.regex(error!.message, /different versions/);
  t.true(error!.message.includes(`${tie}:1 (localhost)`) && error!.message.includes(`${tie}:2 (@v1 localhost)`), error!.message);
});

test('connect() without protocol speaks v1 when the line for the dialled address is @v1, v2 when the host has its own unmarked line', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const lookup = (_h: string, _o: unknown, cb: (e: null, a: { address: string; family: number }[]) => void) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
  const registry = await world.newRegistry('client_known_hosts_v1');
  await registry.add({ who: '127.0.0.1', key: listener.publicKey, v1: true });
  for (const [host, protocol] of [['peer.example', 'v1'], ['localhost', 'v2']] as const) {
    if (host === 'localhost') await registry.add({ who: 'localhost', key: listener.publicKey });
    const accepted = listener.accept({ timeout: 60_000 });
    const client = await connect(host, listener.address().port, { vault: world.clientVault, registry, lookup: lookup as never, timeout: 60_000 });
    const server = await accepted;
    t.is(client.protocol, protocol, host);
    t.is(server.protocol, protocol);
    await client.close();
    await server.close();
  }
});
