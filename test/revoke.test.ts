/**
 * Revoked keys lose their open connections: when the registry reloads (its file edited on disk,
 * or a line removed through the API), the listener re-checks every open connection's key from its
 * address and closes, with EAUTH and a reason that says so, those no longer allowed. Others stay
 * open; `closeRevoked: false` keeps the old behaviour. A v1 connection is re-checked as v1: a key
 * whose lines lose their `@v1` marker loses its v1 connections and keeps its v2 ones. Real
 * workers, real files, real sockets.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { RejectedError, connect, fingerprint } from '../lib/index.js';
import type { CurvetunSocket, Protocol } from '../lib/index.js';
import { openRegistry } from '../lib/registry/index.js';
import { makeWorld, keyText, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

/** Sockets a test opened: closed after it (a listener leaves accepted sockets open). */
const opened = new Map<World, CurvetunSocket[]>();

async function world(t: { teardown(fn: () => Promise<void>): void }): Promise<World> {
  const w = await makeWorld();
  opened.set(w, []);
  t.teardown(async () => {
    await Promise.all(opened.get(w)!.map((s) => s.close()));
    await w.dispose();
  });
  return w;
}

/** A connected pair: the client's socket and the server's view of it. */
async function pair(w: World, listener: Awaited<ReturnType<World['listen']>>, vault = w.clientVault, protocol: Protocol = 'v2') {
  const client = await connect('127.0.0.1', listener.address().port, { protocol, vault, serverKey: listener.publicKey, timeout: 20_000 });
  opened.get(w)!.push(client);
  const server = await listener.accept({ timeout: 20_000 });
  opened.get(w)!.push(server);
  return { client, server };
}

function closed(socket: CurvetunSocket): Promise<unknown> {
  return within(new Promise((resolve) => (socket.closed ? resolve(socket.closeReason) : socket.once('close', resolve))), 60_000, 'close');
}

/** The connection still carries a message both ways. */
async function alive(t: { is(a: unknown, b: unknown): void }, p: { client: CurvetunSocket; server: CurvetunSocket }): Promise<void> {
  await p.client.send('still here?');
  t.is(new TextDecoder().decode(await p.server.recv({ timeout: 20_000 })), 'still here?');
}

test('a key removed from known_hosts on disk loses its open connection (EAUTH, reason says so); other keys keep theirs', async (t) => {
  const w = await world(t);
  const other = await w.newVault('other');
  await w.registry.add({ who: '127.0.0.1', key: other.publicKey });
  const listener = await w.listen();
  const revoked = await pair(w, listener);
  const kept = await pair(w, listener, other);
  await alive(t, revoked);
  t.is(listener.connections, 2);

  // The operator deletes the client's line with an editor: only the other key is left.
  const file = join(w.dir, 'known_hosts');
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => !l.includes(keyText(w.clientVault.publicKey)));
  writeFileSync(file, lines.join('\n'));

  const reason = (await closed(revoked.server)) as { code: string; message: string };
  t.is(reason.code, 'EAUTH');
  t.regex(reason.message, /closed on registry reload: the registry no longer allows this key from (::ffff:)?127\.0\.0\.1/);
  t.false(reason.message.includes(keyText(w.clientVault.publicKey)), 'no key bytes in the reason');
  await closed(revoked.client);
  await t.throwsAsync(revoked.client.recv({ timeout: 20_000 }));
  await alive(t, kept);
  t.is(listener.connections, 1);
  // New handshakes obey the new file too: v2 says so at connect(), v1 only by closing.
  const again = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: w.clientVault, serverKey: listener.publicKey, timeout: 20_000 }));
  t.true(again instanceof RejectedError && again.reason === 'key-not-allowed', String(again));
  const againV1 = await connect('127.0.0.1', listener.address().port, { protocol: 'v1', vault: w.clientVault, serverKey: listener.publicKey, timeout: 20_000 });
  opened.get(w)!.push(againV1);
  await t.throwsAsync(againV1.recv({ timeout: 20_000 }), { message: /refused our key/ });
});

test('a key whose lines lose their @v1 marker loses its v1 connection on reload (EAUTH, reason says so) and keeps its v2 one', async (t) => {
  const w = await world(t);
  const listener = await w.listen();
  const overV1 = await pair(w, listener, w.clientVault, 'v1');
  const overV2 = await pair(w, listener, w.clientVault, 'v2');
  t.is(overV1.server.protocol, 'v1');
  t.is(overV2.server.protocol, 'v2');
  await alive(t, overV1);

  // The operator drops the marker with an editor: the key is still allowed, over v2 only.
  const file = join(w.dir, 'known_hosts');
  const text = readFileSync(file, 'utf8');
  t.regex(text, /^@v1 127\.0\.0\.1 /m);
  writeFileSync(file, text.replace(/^@v1 /m, ''));

  const reason = (await closed(overV1.server)) as { code: string; message: string };
  t.is(reason.code, 'EAUTH');
  t.regex(reason.message, /closed on registry reload: .*v2-only \(no @v1 marker\)/);
  await closed(overV1.client);
  await alive(t, overV2);
  t.is(listener.connections, 1);
});

test('registry.remove() through the API closes that key\'s connections; reverify() on demand finds nothing more', async (t) => {
  const w = await world(t);
  const listener = await w.listen();
  const p = await pair(w, listener);
  t.is(await w.registry.remove('127.0.0.1', w.clientVault.publicKey), 1);
  const reason = (await closed(p.server)) as { code: string };
  t.is(reason.code, 'EAUTH');
  t.is(await listener.reverify(), 0);
});

test('closeRevoked: false leaves open connections alone; reverify() then closes them on demand', async (t) => {
  const w = await world(t);
  const listener = await w.listen({ closeRevoked: false });
  const p = await pair(w, listener);
  const reloaded = new Promise<void>((resolve) => (w.registry as unknown as { once(e: string, f: () => void): void }).once('reload', resolve));
  await w.registry.remove('127.0.0.1', w.clientVault.publicKey);
  await within(reloaded, 60_000, 'reload event');
  // A subscribed listener would have asked the registry by now: our own question queues behind its.
  await (w.registry as unknown as { check(a: string, k: Uint8Array): Promise<unknown> }).check('127.0.0.1', w.clientVault.publicKey);
  await new Promise((r) => setImmediate(r));
  await alive(t, p);
  t.is(await listener.reverify(), 1);
  t.is(((await closed(p.server)) as { code: string }).code, 'EAUTH');
});

test('a v1 connection whose @v1 line stays keeps its connection through a reload that changes something else', async (t) => {
  const w = await world(t);
  const listener = await w.listen();
  const overV1 = await pair(w, listener, w.clientVault, 'v1');
  t.is(overV1.server.protocol, 'v1');
  const reloaded = new Promise<void>((resolve) => (w.registry as unknown as { once(e: string, f: () => void): void }).once('reload', resolve));
  const stranger = await w.newVault('unrelated');
  await w.registry.add({ who: '10.9.8.7', key: stranger.publicKey });
  await w.registry.remove('10.9.8.7'); // a removal is what makes a registry re-check its connections
  await within(reloaded, 60_000, 'reload event');
  t.is(await listener.reverify(), 0);
  await alive(t, overV1);
  t.is(listener.connections, 1);
});

test('a key still allowed by another line (a wider pattern) keeps its connection through a reload', async (t) => {
  const w = await world(t);
  await w.registry.add({ who: '127.0.0.0/8', key: w.clientVault.publicKey });
  const listener = await w.listen();
  const p = await pair(w, listener);
  const reloaded = new Promise<void>((resolve) => (w.registry as unknown as { once(e: string, f: () => void): void }).once('reload', resolve));
  await w.registry.remove('127.0.0.1');
  await within(reloaded, 60_000, 'reload event');
  t.is(await listener.reverify(), 0);
  await alive(t, p);
});

test('handshake reports: completed with the peer key and a duration; a refused key is named (by the listener) and flagged; a failure before any key claimed names none', async (t) => {
  const w = await world(t);
  const listener = await w.listen();
  const reports: { error: unknown; keyRefused: boolean; peerKey?: Uint8Array; durationMs: number }[] = [];
  listener.on('handshake', (r) => reports.push(r));
  const started = performance.now();
  const p = await pair(w, listener);
  await alive(t, p);
  const stranger = await w.newVault('stranger');
  // v2: refused with an authenticated REJECT, so connect() itself fails.
  await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: stranger, serverKey: listener.publicKey, timeout: 20_000 }), { code: 'EAUTH' });
  // A client with a wrong server key: its Hello does not open, no client key is ever claimed.
  const wrongKey = (await w.newVault('elsewhere')).publicKey;
  await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: w.clientVault, serverKey: wrongKey, timeout: 20_000 }), { code: 'EHANDSHAKE' });
  for (let i = 0; i < 1200 && reports.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  const elapsed = performance.now() - started;
  const [ok, refused, unopened] = reports;
  t.is(ok!.error, null);
  t.false(ok!.keyRefused);
  t.is(fingerprint(ok!.peerKey!), fingerprint(w.clientVault.publicKey));
  t.true(ok!.durationMs >= 0 && ok!.durationMs <= elapsed, `${ok!.durationMs} ms, within the ${elapsed.toFixed(0)} ms the test has run`);
  t.truthy(refused!.error);
  t.true(refused!.keyRefused);
  t.is(fingerprint(refused!.peerKey!), fingerprint(stranger.publicKey));
  t.truthy(unopened!.error);
  t.false(unopened!.keyRefused, 'a failure that is no refusal of a key is not flagged as one');
  t.is(unopened!.peerKey, undefined);
});

test('a TOFU registry re-checks open connections without asking its hook again', async (t) => {
  const w = await world(t);
  let asked = 0;
  const registry = await openRegistry({
    file: join(w.dir, 'tofu_hosts'),
    create: true,
    tofu: {
      approve: () => {
        asked++;
        return true;
      },
    },
  });
  t.teardown(() => registry.close());
  const listener = await w.listen({ registry });
  const p = await pair(w, listener);
  t.is(asked, 1);
  await registry.remove('127.0.0.1');
  t.is(((await closed(p.server)) as { code: string }).code, 'EAUTH');
  t.is(asked, 1, 'the hook was asked again for an open connection');
});
