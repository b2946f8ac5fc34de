/**
 * The allowed-address filter: the synchronous check a server makes on the raw remoteAddress before
 * any cryptography, the client-side check of a host before connecting, and, over real sockets on
 * 127.0.0.1, a denied peer refused before the vault or the cookie keeper is asked anything.
 */
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import test from 'ava';
import { LocalCookieKeeper } from '../lib/cookie/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { listen } from '../lib/index.js';
import { AddressFilter, RESOLVE_TIMEOUT_MS } from '../lib/net/index.js';
import { HELLO_COUNTER, PREFIX_HELLO } from '../lib/protocol/constants.js';
import { encodeFrame, FrameDecoder } from '../lib/protocol/frame.js';
import { shortTermNonce } from '../lib/protocol/nonce.js';
import { decodePacket, encodeHello } from '../lib/protocol/packets.js';
import { LocalVault } from '../lib/vault/index.js';
import type { Vault } from '../lib/vault/types.js';
import { counting } from './helpers/counting.js';

const backend = getBackend('tweetnacl');

const table: [string[], string, boolean][] = [
  [['127.0.0.0/8'], '127.0.0.1', true],
  [['127.0.0.0/8'], '::ffff:127.0.0.1', true], // dual-stack servers report IPv4 peers like this
  [['127.0.0.0/8'], '::1', false],
  [['127.0.0.0/8', '::1'], '::1', true],
  [['10.0.0.0/8', '192.168.0.0/16'], '192.168.44.1', true],
  [['10.0.0.0/8', '192.168.0.0/16'], '172.16.0.1', false],
  [['2001:db8::/32'], '2001:DB8::42', true],
  [['2001:db8::/32'], '2001:db9::42', false],
  [['*'], '203.0.113.1', true],
  [[], '127.0.0.1', false], // an empty list allows nobody
];

test('allows(): addresses, networks and * answer synchronously with a boolean', (t) => {
  for (const [patterns, address, expected] of table) {
    const answer = AddressFilter.parse(patterns).allows(address);
    t.is(typeof answer, 'boolean', `${patterns} ${address}`); // no Promise: nothing to wait for
    t.is(answer, expected, `${patterns.join(',')} vs ${address}`);
  }
});

test('allows(): a client naming the host is allowed by a name or domain pattern without DNS', (t) => {
  const filter = AddressFilter.parse(['.example.invalid', 'db.other.invalid']);
  t.is(filter.allows('192.0.2.10', 'www.EXAMPLE.invalid.'), true);
  t.is(filter.allows('192.0.2.10', 'example.invalid'), true);
  t.is(filter.allows('192.0.2.10', 'db.other.invalid'), true);
  // a name outside the list needs the resolver (a Promise), and a reverse name under the domain
  const other = filter.allows('192.0.2.10', 'api.other.invalid');
  t.true(other instanceof Promise);
});

test('a name pattern covers the addresses the name resolves to (real resolver, bounded)', async (t) => {
  const filter = AddressFilter.parse(['localhost']);
  t.true(filter.usesNames);
  const answer = filter.allows('127.0.0.1');
  t.true(answer instanceof Promise, 'a peer address against a name needs DNS');
  t.true(await answer);
  t.false(await filter.allows('192.0.2.1'));
});

test('a domain pattern covers a peer whose reverse name lies under it and resolves back to it', async (t) => {
  // 127.0.0.1 maps back to "localhost" through the hosts file, and localhost resolves to it.
  t.true(await AddressFilter.parse(['.localhost']).allowsPeer('127.0.0.1'));
  t.false(await AddressFilter.parse(['.example.invalid']).allowsPeer('127.0.0.1'));
});

test('client side: a host is allowed only when every address it resolves to is', async (t) => {
  t.true(await AddressFilter.parse(['127.0.0.0/8', '::1']).allows('localhost'));
  t.false(await AddressFilter.parse(['10.0.0.0/8']).allows('localhost'));
  t.false(await AddressFilter.parse(['10.0.0.0/8']).allowsHost('127.0.0.1'));
  t.true(await AddressFilter.parse(['localhost']).allowsHost('LOCALHOST'));
});

test('a name that does not resolve is denied, within the resolver deadline', async (t) => {
  const started = Date.now();
  t.false(await AddressFilter.parse(['127.0.0.0/8']).allows('no-such-host.invalid'));
  t.false(await AddressFilter.parse(['no-such-host.invalid']).allows('127.0.0.1'));
  t.true(Date.now() - started < 2 * RESOLVE_TIMEOUT_MS + 1000);
});

test('bad patterns are refused when the filter is built, with EINVAL', (t) => {
  const error = t.throws(() => AddressFilter.parse(['127.0.0.0/8', '10.0.0.0/40']), { instanceOf: CurvetunError });
  t.is(error!.code, 'EINVAL');
  t.regex(error!.message, /10\.0\.0\.0\/40/);
  t.is(AddressFilter.parse(['*']).allows(42 as unknown as string), false); // never a TypeError
});

/** A genuine Hello for `serverKey`, framed. */
function helloFrame(serverKey: Uint8Array): Uint8Array {
  const eph = backend.keyPair();
  const box = backend.box(new Uint8Array(64), shortTermNonce(PREFIX_HELLO, HELLO_COUNTER), serverKey, eph.secretKey);
  return encodeFrame(encodeHello({ clientEphemeralKey: eph.publicKey, counter: HELLO_COUNTER, box }));
}

/** Send a Hello over raw TCP; resolves with the first packet's type, or 'closed' when the server hangs up. */
async function sendHello(port: number, serverKey: Uint8Array): Promise<string> {
  const socket: Socket = tcpConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  const decoder = new FrameDecoder();
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) resolve(decodePacket(payload).type);
    });
    socket.on('close', () => resolve('closed'));
    socket.on('error', () => resolve('closed'));
  });
  socket.write(helloFrame(serverKey));
  const timer = setTimeout(() => socket.destroy(), 5000);
  const result = await answer;
  clearTimeout(timer);
  socket.destroy();
  return result;
}

async function server(t: { teardown(fn: () => unknown): void }, allowedAddresses: string[]) {
  const vault = counting<Vault>(LocalVault.generate({ crypto: 'tweetnacl' }));
  const cookies = counting(new LocalCookieKeeper({ crypto: 'tweetnacl' }));
  const listener = await listen(0, { host: '127.0.0.1', vault: vault.proxy, cookies: cookies.proxy, acceptAnyClient: true, allowedAddresses });
  t.teardown(async () => {
    await listener.close();
    await cookies.proxy.close();
    await vault.proxy.close();
  });
  return { listener, port: listener.address().port, vault, cookies };
}

test.serial('a denied address is refused before the vault or the cookie keeper is asked anything', async (t) => {
  const denied = await server(t, ['10.0.0.0/8', '::1']);
  t.is(await sendHello(denied.port, denied.vault.proxy.publicKey), 'closed');
  t.deepEqual(denied.vault.calls, []);
  t.deepEqual(denied.cookies.calls, []);

  // The control: the same Hello from an allowed address does reach the crypto and gets a Cookie,
  // so the counters above would have seen it.
  const allowed = await server(t, ['127.0.0.0/8']);
  t.is(await sendHello(allowed.port, allowed.vault.proxy.publicKey), 'cookie');
  t.true(allowed.vault.calls.length > 0);
  t.deepEqual(allowed.cookies.calls, ['seal']);
});

/** What the listener had decided about each connection by the end of the turn in which it arrived. */
function pendingWhenArrived(listener: { stats: { pendingHandshakes: number } }): number[] {
  const seen: number[] = [];
  // The listener's own 'connection' handler was added first, so it has run when this one runs.
  (listener as unknown as { server: import('node:net').Server }).server.on('connection', () => seen.push(listener.stats.pendingHandshakes));
  return seen;
}

test.serial('with a name pattern in the list, a peer an address pattern covers is admitted at once, without the DNS path', async (t) => {
  // Before the fix, any name pattern sent every connection through the asynchronous (DNS) check,
  // so no handshake had started by the end of the turn the connection arrived in.
  const direct = await server(t, ['127.0.0.0/8', 'localhost']);
  const directSeen = pendingWhenArrived(direct.listener);
  t.is(await sendHello(direct.port, direct.vault.proxy.publicKey), 'cookie');
  t.deepEqual(directSeen, [1], 'the handshake started in the same turn: no resolver was waited for');

  // The control: when only the name covers 127.0.0.1, the decision does need DNS, and the
  // handshake starts only after the resolver answered (localhost resolves to 127.0.0.1).
  const byName = await server(t, ['10.0.0.0/8', 'localhost']);
  const byNameSeen = pendingWhenArrived(byName.listener);
  t.is(await sendHello(byName.port, byName.vault.proxy.publicKey), 'cookie');
  t.deepEqual(byNameSeen, [0], 'the name needed the resolver before the handshake could start');
});
