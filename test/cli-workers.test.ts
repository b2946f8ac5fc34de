/**
 * `curvetun serve --workers N` as real processes on loopback: a primary and N workers sharing one
 * port and one key file. 4 workers serve 200 clients with every echo byte-exact, and the Cookies'
 * safe nonces (read back with the key's scramble key) are all distinct, from one reservation
 * block per worker; SIGTERM drains every worker and the primary exits 0 once all have. A worker
 * killed with SIGKILL is replaced (with a log line) while the others keep serving their clients.
 */
import { join } from 'node:path';
import test from 'ava';
import { connect } from '../lib/api.js';
import type { CurvetunSocket } from '../lib/connection/socket.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { COOKIE_PACKET_BYTES, MAGIC_BYTES, MAGIC_COOKIE } from '../lib/protocol/constants.js';
import { COOKIE_PACKET } from '../lib/protocol/layout.js';
import type { Protocol } from '../lib/connection/data-session.js';
import { LocalVault } from '../lib/vault/index.js';
import { daemon, plainEcho, run, scrape, tempDir, twoEnds, value } from './cli-process.js';
import type { Daemon } from './cli-process.js';
import { bytes, within } from './helpers/fixtures.js';
import { counterPartsOf, scrambleKeyOf } from './helpers/nonces.js';
import { startProxy } from './helpers/proxy.js';

/** Starting N workers through tsx on a loaded 2-core machine takes a while: generous, bounded. */
const START_MS = 300_000;

async function workers(t: import('ava').ExecutionContext, count: number) {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  // The client may speak v1 too (@v1): a v1 Cookie carries the server's safe nonce in the clear.
  for (const args of [['registry', 'remove', '127.0.0.1'], ['registry', 'add', '--v1', '127.0.0.1', join(client, 'id_curvetun.pub')]]) {
    const r = await run([...args, '--home', server]);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const serve = await daemon(
    t,
    ['serve', '--home', server, '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--workers', String(count), '--max-connections', '1000', '--drain-timeout', '120', '--metrics', '127.0.0.1:0'],
    { timeoutMs: START_MS },
  );
  await serve.waitFor(new RegExp(`role=primary`), START_MS);
  await serve.waitFor(new RegExp(`listening address=\\S+ workers=${count} role=primary`), START_MS);
  const vault = await LocalVault.open({ secretKeyFile: join(client, 'id_curvetun') });
  t.teardown(() => vault.close());
  const serverKey = loadPublicKeyFile(join(server, 'id_curvetun.pub'));
  return {
    serve,
    server,
    open: (port = serve.port, protocol: Protocol = 'v2') => connect('127.0.0.1', port, { serverKey, vault, timeout: 60_000, protocol }),
  };
}

/** Send `data` through a tunnelled connection and read the same number of bytes back. */
async function echoBytes(socket: CurvetunSocket, data: Uint8Array): Promise<Buffer> {
  const stream = socket.stream();
  const chunks: Buffer[] = [];
  let got = 0;
  const back = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) resolve(Buffer.concat(chunks));
    });
    stream.on('error', reject);
    stream.on('close', () => reject(new Error(`closed after ${got} of ${data.length} bytes`)));
  });
  stream.write(data);
  return within(back, 60_000, 'the echo');
}

/** A session kept open: one echo at a time over messages (serve forwards bytes; one message per echo here is small). */
async function session(open: () => Promise<CurvetunSocket>) {
  const socket = await open();
  const stream = socket.stream();
  let buffered = '';
  let wanted: ((text: string) => void) | null = null;
  let length = 0;
  let failed: ((e: Error) => void) | null = null;
  stream.on('data', (c: Buffer) => {
    buffered += c.toString();
    if (wanted && buffered.length >= length) {
      const w = wanted;
      wanted = null;
      w(buffered.slice(0, length));
      buffered = buffered.slice(length);
    }
  });
  stream.on('error', () => undefined);
  stream.on('close', () => failed?.(new Error('closed')));
  return {
    socket,
    echo(text: string): Promise<string> {
      if (socket.closed) return Promise.reject(new Error('closed'));
      return within(
        new Promise<string>((resolve, reject) => {
          wanted = resolve;
          failed = reject;
          length = text.length;
          stream.write(text);
        }),
        60_000,
        `the echo of ${text}`,
      );
    },
  };
}

/** The worker number on each `accepted` line since `mark`. */
function acceptedBy(serve: Daemon, mark = 0): number[] {
  return [...serve.stderr().slice(mark).matchAll(/ info accepted peer=\S+ .* worker=(\d+)/g)].map((m) => Number(m[1]));
}

/** Run `task` over `items`, `parallel` at a time. */
async function inBatches<T>(items: T[], parallel: number, task: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += parallel) await Promise.all(items.slice(i, i + parallel).map(task));
}

test.serial('4 workers serve 200 clients (v1 and v2) byte-exact, v1 Cookies with distinct nonces from each worker\'s own block; SIGTERM drains every worker, then the primary exits 0', async (t) => {
  const { serve, server, open } = await workers(t, 4);
  const proxy = await startProxy(serve.port); // records every frame: the Cookies' nonces
  t.teardown(() => proxy.close());
  const clients = Array.from({ length: 200 }, (_, i) => i);
  let exact = 0;
  await inBatches(clients, 20, async (i) => {
    const data = bytes(1 + ((i * 7919) % 20_000), i + 1);
    const socket = await open(proxy.port, i % 2 === 0 ? 'v1' : 'v2'); // v2 servers spend no safe nonce; v1 Cookies show theirs
    const back = await echoBytes(socket, data);
    if (Buffer.compare(back.subarray(0, data.length), Buffer.from(data)) === 0 && back.length === data.length) exact++;
    await socket.close();
  });
  t.is(exact, 200, 'every echo byte-exact');

  const key = scrambleKeyOf(join(server, 'id_curvetun'));
  const isV1Cookie = (p: Uint8Array) => p.length === COOKIE_PACKET_BYTES && Buffer.compare(p.subarray(0, MAGIC_BYTES), MAGIC_COOKIE) === 0;
  const nonces = proxy.captured.map((c) => c.toClient[0]!).filter(isV1Cookie).map((p) => p.subarray(COOKIE_PACKET.nonce16, COOKIE_PACKET.box));
  t.is(nonces.length, 100, 'the 100 v1 handshakes');
  const parts = nonces.map((n) => counterPartsOf(n, key));
  t.is(new Set(parts.map((p) => p.counter)).size, 100, 'no counter twice, across all workers');
  t.true(parts.every((p) => p.instance === 0));
  const served = new Set(acceptedBy(serve));
  t.deepEqual([...served].sort(), [1, 2, 3, 4], 'every worker served clients');
  // Each worker's vault reserved its own block of the shared counter file: one block per worker.
  const blocks = new Set(parts.map((p) => Math.floor(p.counter / 1_048_576)));
  t.is(blocks.size, 4, 'the nonces come from four disjoint reservations');

  // Drain: sessions open on every worker go on after SIGTERM; the primary waits for all.
  const mark = serve.mark();
  const sessions = await Promise.all(Array.from({ length: 12 }, () => session(() => open())));
  await within((async () => { while (acceptedBy(serve, mark).length < 12) await new Promise((r) => setTimeout(r, 50)); })(), 60_000, '12 accepted lines');
  const holding = new Set(acceptedBy(serve, mark));
  serve.child.kill('SIGTERM');
  await serve.waitFor(/info stopping reason=SIGTERM workers=4 .*role=primary/);
  for (const w of holding) await serve.waitFor(new RegExp(`info stopping signal=SIGTERM open=\\d+ .*worker=${w}`));
  for (const [i, s] of sessions.entries()) t.is(await s.echo(`still here ${i}`), `still here ${i}`, 'a session in flight finishes its work');
  await t.throwsAsync(open(), undefined, 'no new connections while draining');
  for (const s of sessions) await s.socket.close();
  t.is(await serve.exited, 0);
  const log = serve.stderr();
  for (const w of [1, 2, 3, 4]) t.regex(log, new RegExp(`info stopped drained=\\d+ closed=0 worker=${w}`));
  const drained = [...log.matchAll(/info stopped drained=(\d+) closed=0 worker=/g)].reduce((n, m) => n + Number(m[1]), 0);
  t.is(drained, 12, 'every session drained, none cut');
  t.regex(log, /info stopped workers=4 role=primary/);
  t.notRegex(log, /worker_exited|worker_failed|workers_killed/);
});

test.serial('a worker killed with SIGKILL under load is replaced, with a log line; its clients lose their connections, the others keep serving', async (t) => {
  const { serve, open } = await workers(t, 3);
  const sessions = await Promise.all(Array.from({ length: 24 }, () => session(() => open())));
  await within((async () => { while (acceptedBy(serve).length < 24) await new Promise((r) => setTimeout(r, 50)); })(), 60_000, '24 accepted lines');
  const onWorker = acceptedBy(serve);
  for (const [i, s] of sessions.entries()) t.is(await s.echo(`before ${i}`), `before ${i}`);

  // Load: new connections one after another until told to stop.
  let loading = true;
  let served = 0;
  const load = (async () => {
    for (let i = 0; loading && i < 10_000; i++) {
      try {
        const socket = await open();
        await echoBytes(socket, bytes(512, i));
        served++;
        await socket.close();
      } catch {
        // one handed to the dying worker fails; the test counts successes after the restart
      }
    }
  })();

  const victim = 2;
  const pid = Number(/ info start command=serve version=\S+ pid=(\d+) worker=2/.exec(serve.stderr())![1]);
  const mark = serve.mark();
  process.kill(pid, 'SIGKILL');
  await serve.waitFor(new RegExp(`warn worker_exited worker=${victim} pid=${pid} code=null signal=SIGKILL restart_in_ms=250 role=primary`), 60_000, mark);
  const ready = await serve.waitFor(new RegExp(`info worker_ready worker=${victim} pid=(\\d+) role=primary`), START_MS, mark);
  const replacement = Number(/pid=(\d+)/.exec(ready)![1]);
  t.not(replacement, pid);

  const lost = onWorker.filter((w) => w === victim).length;
  t.true(lost > 0, 'the victim had clients');
  let failed = 0;
  for (const [i, s] of sessions.entries()) {
    try {
      await s.echo(`after ${i}`);
    } catch {
      failed++;
    }
  }
  t.is(failed, lost, 'exactly the victim\'s sessions ended');
  const afterReady = serve.mark();
  const before = served;
  await within((async () => { while (served < before + 30) await new Promise((r) => setTimeout(r, 50)); })(), START_MS, '30 more connections served');
  loading = false;
  await load;
  t.true(acceptedBy(serve, afterReady).includes(victim), 'the replacement serves too');

  // The primary's --metrics: the sum of the workers' (the dead one's count went with it), and its own restarts.
  const url = /info metrics url=(\S+) role=primary/.exec(serve.stderr())![1]!;
  t.notRegex(serve.stderr(), /info metrics url=\S+ worker=/, 'workers serve no metrics of their own');
  const page = await scrape(url);
  t.is(value(page, 'curvetun_worker_process_restarts_total'), 1);
  const accepted = value(page, 'curvetun_handshakes_total{outcome="accepted",reason="ok"}') ?? 0;
  t.true(accepted >= 24 - lost + 30, `accepted ${accepted} across the live workers`);
  // The load's last connections may still be closing on the server side: wait (bounded) for the count to settle.
  let openNow = value(page, 'curvetun_connections_open');
  for (let i = 0; i < 600 && openNow !== 24 - lost; i++) {
    await new Promise((r) => setTimeout(r, 100));
    openNow = value(await scrape(url), 'curvetun_connections_open');
  }
  t.is(openNow, 24 - lost, 'the surviving sessions, summed over the workers');
  for (const s of sessions) await s.socket.close();
});

test('a worker that fails before it listens (no key) is a start-up failure: the primary stops and exits with its code, restarting nothing', async (t) => {
  const dir = tempDir(t);
  const r = await run(['serve', '--home', join(dir, 'empty'), '--listen', '127.0.0.1:0', '--forward', '127.0.0.1:1', '--workers', '2'], { timeoutMs: START_MS });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /no secret key file at .* \(run: curvetun keygen\)/);
  t.regex(r.stderr, /error worker_failed worker=\d pid=\d+ code=1 signal=null reason="exited before it listened" role=primary/);
  t.regex(r.stderr, /info stopped workers=2 role=primary/);
  t.notRegex(r.stderr, /worker_exited|restart_in_ms/);
});
