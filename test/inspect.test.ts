/**
 * No key material in `util.inspect` output at any depth (issue 12, item 6): vaults, the vault
 * core, actor refs, cookie keepers, listeners, sockets, the default runtime. Every secret a test
 * can know is searched for in every form inspect could print it — hex, hex as a Buffer prints it,
 * base64, and the decimal list of a Uint8Array. Session and ephemeral keys are learnt without a
 * back door: the connections run on a recording crypto backend (the public `crypto` option).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CookieCore, LocalCookieKeeper, startCookieKeeper } from '../lib/cookie/index.js';
import { getBackend } from '../lib/crypto/index.js';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { Session } from '../lib/connection/session.js';
import { Agent, ChannelSession, Gateway, Home, connect, defaultHome, listen, openRegistry, stopDefaultHome } from '../lib/index.js';
import { loadIdentity } from '../lib/keys/generate.js';
import { LocalVault, MemoryCounter, SodiumVault, VaultCore, WorkerVault } from '../lib/vault/index.js';

const backend = getBackend('auto');
const dir = mkdtempSync(join(tmpdir(), 'curvetun-inspect-'));
test.after.always(async () => {
  await stopDefaultHome();
  rmSync(dir, { recursive: true, force: true });
});

type Secrets = Record<string, Uint8Array>;

/** Every way util.inspect could print these bytes. */
function forms(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0'));
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), hex.join(' '), [...b].join(', ')];
}

const OPTION_SETS = [
  { depth: Infinity },
  { depth: Infinity, showHidden: true },
  // Everything printed in full, on one line, arrays not grouped into columns.
  { depth: Infinity, showHidden: true, maxArrayLength: Infinity, maxStringLength: Infinity, compact: true, breakLength: Infinity, getters: true },
];

function assertNoSecrets(t: ExecutionContext, what: string, value: unknown, secrets: Secrets): void {
  t.true(Object.keys(secrets).length > 0);
  for (const options of OPTION_SETS) {
    const text = inspect(value, options);
    for (const [name, key] of Object.entries(secrets)) {
      t.is(key.length, 32, name);
      t.false(key.every((b) => b === 0), `${name} is a real key`);
      for (const form of forms(key)) t.false(text.includes(form), `${what} shows the ${name} (${JSON.stringify(options)})`);
    }
    // Our objects describe themselves with strings; no raw 32-byte array should show anywhere.
    t.notRegex(text, /(Uint8Array|Buffer|ArrayBuffer|SharedArrayBuffer)\(\d+\)|<Buffer /, `${what} shows raw bytes`);
  }
}

function identitySecrets(keyFile: string, label = ''): Secrets {
  const identity = loadIdentity(keyFile, backend);
  return { [`${label}secret key`]: identity.secretKey, [`${label}scramble key`]: identity.scrambleKey };
}

/** A crypto backend that remembers every secret it makes: key pairs' secret halves, shared keys, 32-byte random values. */
function recordingBackend(): { backend: CryptoBackend; secrets: Secrets } {
  const secrets: Secrets = {};
  let n = 0;
  const keep = (name: string, key: Uint8Array) => {
    secrets[`${name} #${n++}`] = new Uint8Array(key); // a copy: the caller may wipe it later
    return key;
  };
  const recording: CryptoBackend = Object.assign(Object.create(backend) as CryptoBackend, {
    name: backend.name,
    keyPair: () => {
      const pair = backend.keyPair();
      keep('ephemeral secret key', pair.secretKey);
      return pair;
    },
    beforenm: (peer: Uint8Array, secret: Uint8Array) => keep('shared (session) key', backend.beforenm(peer, secret)),
    randomBytes: (length: number) => {
      const bytes = backend.randomBytes(length);
      if (length === 32) keep('32 random bytes', bytes);
      return bytes;
    },
  });
  return { backend: recording, secrets };
}

test('VaultCore: neither the secret key, the scramble key nor a cached shared key shows', async (t) => {
  const identity = { ...backend.keyPair(), scrambleKey: backend.randomBytes(32) };
  const core = new VaultCore({ backend, publicKey: identity.publicKey, scrambleKey: identity.scrambleKey, counter: new MemoryCounter(), withSecret: (fn) => fn(identity.secretKey) });
  const peer = backend.keyPair();
  core.seal(new Uint8Array(10), new Uint8Array(8), peer.publicKey); // fills the shared-key cache
  assertNoSecrets(t, 'VaultCore', core, {
    'secret key': identity.secretKey,
    'scramble key': identity.scrambleKey,
    'cached shared key': backend.beforenm(peer.publicKey, identity.secretKey),
  });
  t.regex(inspect(core), /VaultCore/);
});

test('LocalVault and SodiumVault: no secret key, scramble key or cached shared key', async (t) => {
  const adapters: [string, (file: string) => Promise<LocalVault | SodiumVault>][] = [
    ['LocalVault', (file) => LocalVault.open({ secretKeyFile: file, create: true })],
  ];
  if (SodiumVault.available()) adapters.push(['SodiumVault', (file) => SodiumVault.open({ secretKeyFile: file, create: true })]);
  else t.log('sodium-native is not installed: SodiumVault not checked');
  for (const [name, open] of adapters) {
    const file = join(dir, `${name}.key`);
    const vault = await open(file);
    const peer = backend.keyPair();
    await vault.seal(new Uint8Array(10), new Uint8Array(8), peer.publicKey);
    const secrets = identitySecrets(file);
    assertNoSecrets(t, name, vault, { ...secrets, 'cached shared key': backend.beforenm(peer.publicKey, secrets['secret key']!) });
    t.regex(inspect(vault), new RegExp(name));
    await vault.close();
  }
});

test('WorkerVault and the actor refs behind vaults, cookie keepers and registries', async (t) => {
  const file = join(dir, 'worker.key');
  const vault = await WorkerVault.open({ secretKeyFile: file, create: true });
  t.teardown(() => vault.close());
  const peer = backend.keyPair();
  await vault.seal(new Uint8Array(10), new Uint8Array(8), peer.publicKey);
  await vault.safeNonce();
  const secrets = identitySecrets(file);
  assertNoSecrets(t, 'WorkerVault', vault, secrets);
  assertNoSecrets(t, 'the vault actor ref', vault.actor, secrets);
  const cookies = await startCookieKeeper();
  t.teardown(() => cookies.close());
  await cookies.open(await cookies.seal(backend.randomBytes(32), backend.randomBytes(32)));
  assertNoSecrets(t, 'WorkerCookieKeeper', cookies, secrets);
  assertNoSecrets(t, 'the cookie keeper actor ref', cookies.actor, secrets);
  const registry = await openRegistry({ file: join(dir, 'known_hosts.actor'), create: true });
  t.teardown(() => registry.close());
  assertNoSecrets(t, 'the registry actor ref', registry.actor, secrets);
});

test('CookieCore and LocalCookieKeeper: no minute key', async (t) => {
  const { backend: recording, secrets } = recordingBackend();
  const core = new CookieCore(recording, { periodMs: 60_000 });
  core.admit(core.seal(backend.randomBytes(32), backend.randomBytes(32)));
  assertNoSecrets(t, 'CookieCore', core, secrets);
  const local = new LocalCookieKeeper();
  t.teardown(() => local.close());
  const cookie = await local.seal(backend.randomBytes(32), backend.randomBytes(32));
  await local.admit(cookie);
  assertNoSecrets(t, 'LocalCookieKeeper', local, { ...secrets, 'a real key elsewhere': backend.randomBytes(32) });
});

test('a Session shows no session key', (t) => {
  const key = backend.randomBytes(32);
  const session = new Session(backend, key, 'client');
  session.seal(new Uint8Array(3));
  assertNoSecrets(t, 'Session', session, { 'session key': key });
});

test('a Listener and the CurvetunSockets at both ends: no long-term, ephemeral or session key', async (t) => {
  const serverFile = join(dir, 'listener-server.key');
  const clientFile = join(dir, 'listener-client.key');
  const serverVault = await LocalVault.open({ secretKeyFile: serverFile, create: true });
  const clientVault = await LocalVault.open({ secretKeyFile: clientFile, create: true });
  const { backend: recording, secrets } = recordingBackend();
  const cookies = new LocalCookieKeeper();
  const listener = await listen(0, { vault: serverVault, cookies, acceptAnyClient: true, crypto: recording });
  t.teardown(async () => {
    await listener.close();
    await cookies.close();
  });
  const port = listener.address().port;
  // One connection waits in the accept queue (held by the listener), one is accepted.
  const queued = await connect('127.0.0.1', port, { vault: clientVault, serverKey: serverVault.publicKey, crypto: recording });
  const client = await connect('127.0.0.1', port, { vault: clientVault, serverKey: serverVault.publicKey, crypto: recording });
  t.teardown(() => Promise.all([queued.close(), client.close()]).then(() => undefined));
  await client.send('hello');
  await queued.send('hello');
  // Both server sockets are in the accept queue now; wait until the listener has them.
  for (let i = 0; i < 200 && listener.stats.accepted < 2; i++) await new Promise((r) => setTimeout(r, 10));
  const all: Secrets = { ...secrets, ...identitySecrets(serverFile, 'server '), ...identitySecrets(clientFile, 'client ') };
  t.true(Object.keys(secrets).some((k) => k.startsWith('shared (session) key')));
  assertNoSecrets(t, 'the Listener (with a connection queued)', listener, all);
  const server = await listener.accept({ timeout: 60_000 });
  t.teardown(() => server.close());
  t.is(Buffer.from(await server.recv({ timeout: 60_000 })).toString(), 'hello');
  assertNoSecrets(t, 'the server CurvetunSocket', server, all);
  assertNoSecrets(t, 'the client CurvetunSocket', client, all);
  t.regex(inspect(client), /CurvetunSocket/);
  await serverVault.close();
  await clientVault.close();
});

test('agent mode: an Agent, a Gateway, their channel sessions and channels with data in flight: no key, no raw bytes', async (t) => {
  const gatewayFile = join(dir, 'gateway.key');
  const agentFile = join(dir, 'agent.key');
  const gatewayVault = await LocalVault.open({ secretKeyFile: gatewayFile, create: true });
  const agentVault = await LocalVault.open({ secretKeyFile: agentFile, create: true });
  const registry = await openRegistry({ file: join(dir, 'agent-known_hosts'), create: true });
  await registry.add({ who: '127.0.0.1', key: agentVault.publicKey }, 'inspected-agent');
  const { backend: recording, secrets } = recordingBackend();
  const echo = createServer({ allowHalfOpen: true }, (socket) => socket.on('error', () => undefined).pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const gateway = await Gateway.start({
    port: 0,
    listen: { host: '127.0.0.1', vault: gatewayVault, registry, crypto: recording },
    expose: [{ listen: { host: '127.0.0.1', port: 0 }, agent: 'inspected-agent', target: { host: '127.0.0.1', port: (echo.address() as { port: number }).port } }],
  });
  const agent = new Agent({ gateway: { host: '127.0.0.1', port: gateway.port }, allow: ['127.0.0.1'], connect: { vault: agentVault, serverKey: gatewayVault.publicKey, crypto: recording, timeout: 60_000 } });
  t.teardown(async () => {
    await agent.close();
    await gateway.close();
    await registry.close();
    echo.close();
  });
  const up = once(gateway, 'agentConnect');
  agent.start();
  await up;
  // A local client whose channel is open, with bytes on their way.
  const opened = once(gateway, 'channelOpen');
  const local = tcpConnect({ host: '127.0.0.1', port: gateway.exposed[0]!.address().port });
  t.teardown(() => void local.destroy());
  local.on('error', () => undefined); // reset when the gateway closes
  local.pause();
  local.write(Buffer.alloc(100_000, 7));
  await opened;
  const all: Secrets = { ...secrets, ...identitySecrets(gatewayFile, 'gateway '), ...identitySecrets(agentFile, 'agent ') };
  t.true(Object.keys(secrets).some((k) => k.startsWith('shared (session) key')));
  assertNoSecrets(t, 'the Gateway', gateway, all);
  assertNoSecrets(t, 'the Agent', agent, all);
  t.regex(inspect(agent), /^Agent \{ gateway: '127\.0\.0\.1:\d+', connected: true, allow: '127\.0\.0\.1' \}$/);

  // The channel layer on its own, over a pair of sockets made with the recording backend.
  const listener = await listen(0, { vault: gatewayVault, acceptAnyClient: true, crypto: recording });
  t.teardown(() => listener.close());
  const client = await connect('127.0.0.1', listener.address().port, { vault: agentVault, serverKey: gatewayVault.publicKey, crypto: recording, timeout: 60_000 });
  const server = await listener.accept({ timeout: 60_000 });
  t.teardown(() => Promise.all([client.close(), server.close()]).then(() => undefined));
  const accepting = new ChannelSession(server, { acceptIncoming: true });
  const opening = new ChannelSession(client);
  const channel = opening.open({ host: 'db.internal', port: 5432 });
  const accepted = (await accepting.accept({ timeout: 60_000 })).accept();
  for (const c of [await channel, accepted]) c.on('error', () => undefined); // the teardown aborts them
  (await channel).write(Buffer.alloc(50_000, 9));
  accepted.write(Buffer.alloc(50_000, 8));
  for (const [what, value] of [['a ChannelSession', accepting], ['a ChannelSession', opening], ['a Channel', await channel], ['a Channel', accepted]] as const) {
    assertNoSecrets(t, what, value, all);
  }
  t.regex(inspect(await channel), /^Channel \{ id: 1, target: 'db\.internal:5432', bytesSent: \d+, bytesReceived: \d+ \}$/);
  await gatewayVault.close();
  await agentVault.close();
});

test.serial('the default home (and a Home of its own): no key of its vault', async (t) => {
  const home = join(dir, 'home');
  const runtime = new Home({ home });
  t.teardown(() => runtime.stop());
  await runtime.vault();
  await runtime.registry();
  const secrets = identitySecrets(join(home, 'id_curvetun'));
  assertNoSecrets(t, 'a Home', runtime, secrets);
  process.env.CURVETUN_HOME = join(dir, 'default-home');
  try {
    const shared = defaultHome();
    await shared.vault();
    assertNoSecrets(t, 'the default home', shared, identitySecrets(join(dir, 'default-home', 'id_curvetun')));
  } finally {
    delete process.env.CURVETUN_HOME;
  }
});

test('the objects that hold keys keep them in truly private fields: not shown even with customInspect: false', async (t) => {
  const identity = { ...backend.keyPair(), scrambleKey: backend.randomBytes(32) };
  const core = new VaultCore({ backend, publicKey: identity.publicKey, scrambleKey: identity.scrambleKey, counter: new MemoryCounter(), withSecret: (fn) => fn(identity.secretKey) });
  const peer = backend.keyPair();
  core.seal(new Uint8Array(1), new Uint8Array(8), peer.publicKey);
  const file = join(dir, 'private-fields.key');
  const local = await LocalVault.open({ secretKeyFile: file, create: true });
  await local.seal(new Uint8Array(1), new Uint8Array(8), peer.publicKey);
  const { backend: recording, secrets: minuteKeys } = recordingBackend();
  const cookies = new CookieCore(recording, {});
  const sessionKey = backend.randomBytes(32);
  const session = new Session(backend, sessionKey, 'server');
  const cases: [string, unknown, Secrets][] = [
    ['VaultCore', core, { 'secret key': identity.secretKey, 'scramble key': identity.scrambleKey, 'cached shared key': backend.beforenm(peer.publicKey, identity.secretKey) }],
    ['LocalVault', local, identitySecrets(file)],
    ['CookieCore', cookies, minuteKeys],
    ['Session', session, { 'session key': sessionKey }],
  ];
  for (const [what, value, secrets] of cases) {
    const text = inspect(value, { customInspect: false, depth: Infinity, showHidden: true, maxArrayLength: Infinity, compact: true, breakLength: Infinity });
    for (const [name, key] of Object.entries(secrets)) for (const form of forms(key)) t.false(text.includes(form), `${what} shows the ${name}`);
  }
  await local.close();
});
