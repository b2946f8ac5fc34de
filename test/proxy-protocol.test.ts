/**
 * `listen({ proxyProtocol })` over real sockets on loopback: a balancer stand-in (a TCP relay that
 * writes a PROXY header, test/helpers/proxy-header.ts) in front of a real listener with a real
 * registry and real crypto. The carried address is what the registry, allowedAddresses, the socket
 * and the reports see; hostile or missing headers, and peers that are not trusted balancers, close
 * only their own connection, before the vault or the cookie keeper is asked anything.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { LocalCookieKeeper } from '../lib/cookie/index.js';
import { CurvetunError, connect, listen } from '../lib/index.js';
import type { HandshakeReport, ListenOptions, Listener } from '../lib/index.js';
import type { Protocol } from '../lib/connection/data-session.js';
import { HELLO_COUNTER, PREFIX_HELLO } from '../lib/protocol/constants.js';
import { encodeFrame } from '../lib/protocol/frame.js';
import { shortTermNonce } from '../lib/protocol/nonce.js';
import { encodeHello } from '../lib/protocol/packets.js';
import { getBackend } from '../lib/crypto/index.js';
import { openRegistry } from '../lib/registry/index.js';
import { LocalVault } from '../lib/vault/index.js';
import type { Vault } from '../lib/vault/types.js';
import { counting } from './helpers/counting.js';
import { echoServer, failure, within } from './helpers/fixtures.js';
import { startRelay, v1Header, v2Header } from './helpers/proxy-header.js';
import type { Relay, RelayOptions } from './helpers/proxy-header.js';

const backend = getBackend('tweetnacl');
const TRUSTED = ['127.0.0.1/32'];

async function world(t: ExecutionContext, options: ListenOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-proxy-'));
  const vault = counting<Vault>(LocalVault.generate({ crypto: 'tweetnacl' }));
  const cookies = counting(new LocalCookieKeeper({ crypto: 'tweetnacl' }));
  const clientVault = LocalVault.generate({ crypto: 'tweetnacl' });
  const registry = await openRegistry({ file: join(dir, 'known_hosts'), create: true });
  // This client, from this address only; @v1: in v1 too, not only v2.
  await registry.add({ who: '192.0.2.2', key: clientVault.publicKey, v1: true });
  const listener = await listen(0, { vault: vault.proxy, cookies: cookies.proxy, registry, crypto: 'tweetnacl', proxyProtocol: { trusted: TRUSTED }, ...options });
  const reports: HandshakeReport[] = [];
  listener.on('handshake', (r) => reports.push(r));
  void echoServer(listener);
  const relays: Relay[] = [];
  t.teardown(async () => {
    for (const r of relays) await r.close();
    await listener.close();
    await registry.close();
    await cookies.proxy.close();
    await vault.proxy.close();
    await clientVault.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = listener.address().port;
  return {
    listener,
    port,
    vault,
    cookies,
    reports,
    async relay(options: RelayOptions) {
      const r = await startRelay(port, options);
      relays.push(r);
      return r;
    },
    client: (relay: Relay, protocol: Protocol = 'v2') =>
      connect('127.0.0.1', relay.port, { serverKey: listener.publicKey, vault: clientVault, crypto: 'tweetnacl', timeout: 20_000, protocol }),
    /** The client's view of a refusal: v2 says so (REJECT, connect fails); v1 just closes after the Vouch. */
    async refused(relay: Relay, protocol: Protocol): Promise<CurvetunError> {
      const options = { serverKey: listener.publicKey, vault: clientVault, crypto: 'tweetnacl', timeout: 20_000, protocol } as const;
      if (protocol === 'v2') return failure(connect('127.0.0.1', relay.port, options));
      const socket = await connect('127.0.0.1', relay.port, options);
      return failure(socket.recv({ timeout: 20_000 }));
    },
  };
}

/** A balancer that says the client is `address`:`port`. */
const claims = (address: string, port = 4242, version: 1 | 2 = 2) => () => (version === 2 ? v2Header({ source: address, sourcePort: port }) : v1Header(address, '127.0.0.1', port, 7000));

async function echo(socket: Awaited<ReturnType<typeof connect>>, text: string): Promise<string> {
  await socket.send(text);
  return Buffer.from(await socket.recv({ timeout: 20_000 })).toString();
}

/** The report of the next handshake that ends (bounded). */
function nextReport(listener: Listener): Promise<HandshakeReport> {
  return within(once(listener, 'handshake').then(([r]) => r as HandshakeReport), 30_000, 'a handshake report');
}

const PAIRS = [
  [2, 'v2'],
  [1, 'v2'],
  [2, 'v1'],
  [1, 'v1'],
] as const;

test('the registry sees the address the header carries: allowed from 192.0.2.2, refused from 192.0.2.3, for PROXY v1 and v2 in front of curvetun v1 and v2 Hellos', async (t) => {
  const w = await world(t);
  for (const [header, protocol] of PAIRS) {
    const what = `PROXY v${header} before a ${protocol} Hello`;
    const report = nextReport(w.listener);
    const good = await w.relay({ header: claims('192.0.2.2', 4242, header) });
    const socket = await w.client(good, protocol);
    t.is(socket.protocol, protocol);
    t.is(await echo(socket, what), what);
    t.like(await report, { remoteAddress: '192.0.2.2', remotePort: 4242, error: null }, what);
    await socket.close();

    const bad = await w.relay({ header: claims('192.0.2.3', 4343, header) });
    const refusal = nextReport(w.listener);
    const error = await w.refused(bad, protocol);
    t.is(error.code, protocol === 'v2' ? 'EAUTH' : 'ECLOSED', what);
    t.like(await refusal, { remoteAddress: '192.0.2.3', remotePort: 4343, keyRefused: true }, what);
  }
});

test('the header alone, with the Hello in the same segment, or a byte at a time: v1 and v2 handshakes complete every way', async (t) => {
  const w = await world(t);
  for (const protocol of ['v1', 'v2'] as const) {
    for (const mode of ['alone', 'with-first-data', 'byte-by-byte'] as const) {
      const relay = await w.relay({ header: claims('192.0.2.2'), mode });
      const socket = await w.client(relay, protocol);
      t.is(await echo(socket, `${protocol} ${mode}`), `${protocol} ${mode}`);
      await socket.close();
    }
  }
});

test('allowedAddresses is checked on the carried address, before any cryptography', async (t) => {
  const w = await world(t, { allowedAddresses: ['192.0.2.2'] });
  const socket = await w.client(await w.relay({ header: claims('192.0.2.2') }));
  t.is(await echo(socket, 'in'), 'in');
  await socket.close();
  const asked = w.vault.calls.length;
  const refused = w.relay({ header: claims('192.0.2.9') });
  await t.throwsAsync(w.client(await refused), { instanceOf: CurvetunError });
  t.is(w.listener.stats.droppedByAddress, 1);
  t.is(w.vault.calls.length, asked, 'the vault was not asked for a refused address');
});

test('a LOCAL header (the balancer\'s own check) names no client: the balancer\'s address is what the registry sees', async (t) => {
  const w = await world(t);
  const report = nextReport(w.listener);
  await w.refused(await w.relay({ header: () => v2Header({ command: 'local' }) }), 'v2');
  t.like(await report, { remoteAddress: '127.0.0.1', keyRefused: true });
});

/** A raw TCP connection from `localAddress` that writes `bytes` (then FIN if `end`); resolves when the server closed it. */
async function hostile(port: number, bytes: Uint8Array, options: { localAddress?: string; end?: boolean } = {}): Promise<void> {
  const socket = tcpConnect({ host: '127.0.0.1', port, localAddress: options.localAddress ?? '127.0.0.1' });
  socket.on('error', () => undefined); // a reset is one way for the server to close it
  socket.on('data', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  socket.write(bytes);
  if (options.end) socket.end();
  await within(closed, 60_000, 'the server closing a hostile connection');
}

function helloFrame(serverKey: Uint8Array): Uint8Array {
  const eph = backend.keyPair();
  const box = backend.box(new Uint8Array(64), shortTermNonce(PREFIX_HELLO, HELLO_COUNTER), serverKey, eph.secretKey);
  return encodeFrame(encodeHello({ clientEphemeralKey: eph.publicKey, counter: HELLO_COUNTER, box }));
}

test('hostile headers close only their own connection, before any cryptography: an open session and new clients go on', async (t) => {
  const w = await world(t, { handshakeTimeout: 3_000 });
  const relay = await w.relay({ header: claims('192.0.2.2') });
  const session = await w.client(relay);
  t.is(await echo(session, 'before'), 'before');
  const [vaultCalls, cookieCalls] = [w.vault.calls.length, w.cookies.calls.length];
  const hello = helloFrame(w.listener.publicKey);
  const hugeTlv = v2Header({ length: 60_000 }).subarray(0, 16 + 12); // says 60 000 bytes follow; sends 12
  const cases: [string, Promise<void>, string, RegExp][] = [
    ['no header at all: a bare Hello', hostile(w.port, hello), 'EPROTO', /does not start with a PROXY protocol signature/],
    ['a wrong v2 signature', hostile(w.port, Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), hello])), 'EPROTO', /signature/],
    ['a v1 line cut short, then FIN', hostile(w.port, Buffer.from('PROXY TCP4 192.0.2.2 127.0.0.1'), { end: true }), 'ECLOSED', /closed before its PROXY protocol header was complete/],
    ['a v2 header cut short, then silence', hostile(w.port, v2Header().subarray(0, 20)), 'ETIMEDOUT', /no complete PROXY protocol header within 3000 ms/],
    ['a huge TLV block', hostile(w.port, hugeTlv), 'EPROTO', /a v2 header of 60000 bytes/],
    ['a TLV running past the header', hostile(w.port, v2Header({ tlvs: [{ type: 1, value: new Uint8Array(5) }], length: 12 + 4 })), 'EPROTO', /runs 4 bytes past/],
    ['UDP, not TCP', hostile(w.port, v2Header({ familyByte: 0x12 })), 'EPROTO', /only TCP over IPv4 or IPv6/],
    ['a v1 line over 107 bytes', hostile(w.port, Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`)), 'EPROTO', /no CRLF within the first 107 bytes/],
    ['a valid header from an untrusted peer', hostile(w.port, Buffer.concat([v2Header({ source: '192.0.2.2' }), hello]), { localAddress: '127.0.0.2' }), 'EDENIED', /127\.0\.0\.2 is not a trusted proxy/],
  ];
  const errors: CurvetunError[] = [];
  w.listener.on('handshakeError', (e) => errors.push(e));
  await Promise.all(cases.map(([, closed]) => closed));
  await within((async () => { while (errors.length < cases.length) await new Promise((r) => setTimeout(r, 20)); })(), 30_000, 'every refusal reported');
  for (const [name, , code, message] of cases) {
    const match = errors.find((e) => e.code === code && message.test(e.message));
    t.truthy(match, `${name}: ${code} ${message} among ${errors.map((e) => `${e.code} ${e.message}`).join(' | ')}`);
  }
  t.is(w.vault.calls.length, vaultCalls, 'the vault was asked nothing');
  t.is(w.cookies.calls.length, cookieCalls, 'the cookie keeper was asked nothing');
  t.is(await echo(session, 'after'), 'after', 'the open session goes on');
  const next = await w.client(relay);
  t.is(await echo(next, 'new'), 'new', 'a new client still gets in');
  await Promise.all([session.close(), next.close()]);
});

test('trusted takes addresses and networks only: a name, * or an empty list is EINVAL at listen()', async (t) => {
  const vault = LocalVault.generate({ crypto: 'tweetnacl' });
  t.teardown(() => vault.close());
  for (const trusted of [['localhost'], ['*'], [], ['10.0.0.0/33']]) {
    const error = await failure(listen(0, { vault, acceptAnyClient: true, proxyProtocol: { trusted } }));
    t.is(error.code, 'EINVAL', JSON.stringify(trusted));
  }
});
