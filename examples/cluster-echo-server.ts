/**
 * An echo server on every core, with node:cluster: what `curvetun serve --workers` does, for a
 * program of your own (docs/scale-out.md).
 *
 *   tsx examples/cluster-echo-server.ts [--port 7000] [--home DIR] [--workers N] [--trusted-proxy CIDR]...
 *
 * The primary forks the workers and restarts one that dies; it holds no key. Each worker opens its
 * own vault over the same key file (the nonce counter's lock keeps their reservations apart) and
 * listens on the same port: Node's cluster shares it, handing each new connection to the next
 * worker. With --trusted-proxy, the workers sit behind a balancer that sends the PROXY protocol.
 * Each worker prints `worker <n> listening <host>:<port> pid <pid>` when ready; SIGTERM to the primary stops
 * them all.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Home, listen } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '7000' },
    host: { type: 'string', default: '127.0.0.1' },
    home: { type: 'string' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'trusted-proxy': { type: 'string', multiple: true },
  },
});

const home = new Home(values.home ? { home: values.home } : {});

if (cluster.isPrimary) {
  // Make the key pair once, here: workers racing to make it would each make their own.
  await home.vault();
  await home.stop();
  let stopping = false;
  const numbers = new Map<number, number>(); // cluster worker id → our worker number
  const fork = (n: number) => numbers.set(cluster.fork({ WORKER: String(n) }).id, n);
  for (let n = 1; n <= Number(values.workers); n++) fork(n);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const n = numbers.get(worker.id)!;
    console.log(`worker ${n} died (${signal ?? code}); starting another`);
    setTimeout(() => fork(n), 1_000); // a real program backs off further
  });
  process.once('SIGTERM', () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
  });
} else {
  const trusted = values['trusted-proxy'];
  const listener = await listen(Number(values.port), {
    host: values.host,
    vault: await home.vault(), // this worker's own vault thread, over the shared key file
    registry: await home.registry(),
    ...(trusted ? { proxyProtocol: { trusted } } : {}),
  });
  const { address, port } = listener.address();
  console.log(`worker ${process.env.WORKER} listening ${address}:${port} pid ${process.pid}`);
  process.once('SIGTERM', async () => {
    await listener.close(); // stop accepting; a real server would let open connections finish first
    await home.stop();
    process.exit(0);
  });
  for await (const socket of listener) {
    void (async () => {
      for await (const message of socket) await socket.send(message);
    })().catch(() => undefined); // one connection failing is that connection's business
  }
}
