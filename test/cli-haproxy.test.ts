/**
 * HAProxy (Debian's, TCP mode, `send-proxy-v2`) in front of `curvetun serve --proxy-protocol`, all
 * real processes on loopback. The registry binds the client's key to 127.0.0.2: through HAProxy
 * it is accepted from 127.0.0.2 and refused from 127.0.0.3, and the logs name the real client;
 * hostile headers and peers that are not the trusted balancer close only their own connection.
 * Skipped (not failed) when haproxy is not installed; `.ci/run` installs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { connect } from '../lib/api.js';
import { fingerprint } from '../lib/keys/fingerprint.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { LocalVault } from '../lib/vault/index.js';
import { daemon, freePort, plainEcho, run, tempDir, twoEnds } from './cli-process.js';
import { failure, within } from './helpers/fixtures.js';
import { startRelay, v2Header } from './helpers/proxy-header.js';

const haveHaproxy = spawnSync('sh', ['-c', 'command -v haproxy']).status === 0;
const haproxyTest = haveHaproxy ? test.serial : test.skip;
if (!haveHaproxy) console.log('HAProxy tests skipped: haproxy not on PATH (apt-get install haproxy)');

/** HAProxy in the foreground, TCP mode, sending a PROXY v2 header to `backendPort`; resolves once its port accepts. */
async function startHaproxy(t: import('ava').ExecutionContext, dir: string, backendPort: number): Promise<number> {
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      '  maxconn 256',
      'defaults',
      '  mode tcp',
      '  timeout connect 10s',
      '  timeout client 120s',
      '  timeout server 120s',
      'frontend balancer',
      `  bind 127.0.0.1:${port}`,
      '  default_backend curvetun',
      'backend curvetun',
      `  server serve1 127.0.0.1:${backendPort} send-proxy-v2 source 127.0.0.1`,
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  t.teardown(() => void child.kill('SIGKILL'));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${err}`);
    const up = await new Promise<boolean>((resolve) => {
      const probe = tcpConnect({ host: '127.0.0.1', port });
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`haproxy did not listen within 30 s: ${err}`);
}

/** A raw connection from `localAddress` straight to serve, writing `bytes`; resolves when serve closed it. */
async function hostile(port: number, bytes: Uint8Array, localAddress = '127.0.0.1'): Promise<void> {
  const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  socket.write(bytes);
  await within(closed, 60_000, 'serve closing a hostile connection');
}

haproxyTest('HAProxy send-proxy-v2 → serve --proxy-protocol: the key bound to 127.0.0.2 gets in from 127.0.0.2 and not from 127.0.0.3; hostile headers close only their own connection', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  // The client's key is allowed from 127.0.0.2 only (not from 127.0.0.1, where HAProxy connects from).
  for (const args of [['registry', 'remove', '127.0.0.1'], ['registry', 'add', '127.0.0.2', join(client, 'id_curvetun.pub')]]) {
    const r = await run([...args, '--home', server]);
    t.is(r.code, 0, r.stderr);
  }
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const serve = await daemon(t, ['serve', '--home', server, '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--proxy-protocol', '--trusted-proxy', '127.0.0.1/32', '--drain-timeout', '1']);
  t.regex(serve.stderr(), /listening .* trusted_proxies=127\.0\.0\.1\/32/);
  const balancer = await startHaproxy(t, dir, serve.port);

  const vault = await LocalVault.open({ secretKeyFile: join(client, 'id_curvetun') });
  t.teardown(() => vault.close());
  const serverKey = loadPublicKeyFile(join(server, 'id_curvetun.pub'));
  const clientKey = fingerprint(loadPublicKeyFile(join(client, 'id_curvetun.pub')));
  /** The client's machine, as seen from the balancer: a plain pipe that connects out from `address`. */
  const from = async (address: string) => {
    const nat = await startRelay(balancer, { localAddress: address });
    t.teardown(() => nat.close());
    return () => connect('127.0.0.1', nat.port, { serverKey, vault, timeout: 60_000 });
  };

  const fromTwo = await from('127.0.0.2');
  const socket = await fromTwo();
  const stream = socket.stream();
  const echoed = new Promise<string>((resolve) => stream.once('data', (c: Buffer) => resolve(c.toString())));
  stream.write('through haproxy');
  t.is(await within(echoed, 60_000, 'the echo'), 'through haproxy');
  await serve.waitFor(new RegExp(`info accepted peer=127\\.0\\.0\\.2:\\d+ key=${clientKey.replace(/[+/]/g, '\\$&')}`));

  const mark = serve.mark();
  const refused = await failure((await from('127.0.0.3'))()); // v2: the server says so (REJECT)
  t.is(refused.code, 'EAUTH');
  t.regex(refused.message, /not allowed|refused|reject/i);
  await serve.waitFor(new RegExp(`warn refused peer=127\\.0\\.0\\.3:\\d+ key=${clientKey.replace(/[+/]/g, '\\$&')}`), 60_000, mark);

  // Hostile headers straight at serve, and a peer that is not the balancer: each closed, each logged.
  const before = serve.mark();
  await hostile(serve.port, v2Header().subarray(0, 20)); // cut short; closed at the 10 s handshake deadline
  await hostile(serve.port, Buffer.from('0d0a0d0a000d0a515549540bffff', 'hex'));
  await hostile(serve.port, v2Header({ length: 65_000 }).subarray(0, 28));
  await hostile(serve.port, v2Header({ source: '127.0.0.2' }), '127.0.0.4');
  // Each is logged; the line may reach us a little after the close did.
  for (const line of [
    /refused peer=127\.0\.0\.1:\d+ duration_ms=\d+ reason="no complete PROXY protocol header within 10000 ms"/,
    /refused peer=127\.0\.0\.1:\d+ duration_ms=\d+ reason="bad PROXY protocol header: the connection does not start with a PROXY protocol signature"/,
    /refused peer=127\.0\.0\.1:\d+ duration_ms=\d+ reason="bad PROXY protocol header: a v2 header of 65000 bytes/,
    /refused peer=127\.0\.0\.4:\d+ duration_ms=\d+ reason="127\.0\.0\.4 is not a trusted proxy/,
  ]) {
    t.regex(await serve.waitFor(line, 60_000, before), line);
  }

  const again = new Promise<string>((resolve) => stream.once('data', (c: Buffer) => resolve(c.toString())));
  stream.write('still here');
  t.is(await within(again, 60_000, 'the echo'), 'still here', 'the session through HAProxy goes on');
  const next = await fromTwo();
  const nextStream = next.stream();
  const third = new Promise<string>((resolve) => nextStream.once('data', (c: Buffer) => resolve(c.toString())));
  nextStream.write('and a new one');
  t.is(await within(third, 60_000, 'the echo'), 'and a new one');
  await Promise.all([socket.close(), next.close()]);
});
