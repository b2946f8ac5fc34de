/**
 * `--metrics HOST:PORT`: Prometheus metrics over HTTP (`GET /metrics`), made with prom-client, the
 * library Node services use for this (its text format, histograms and process metrics are its
 * job, not ours). It is loaded only when the option is given.
 *
 *   curvetun_connections_open                     gauge    connections being served now
 *   curvetun_handshakes_total{outcome,reason}     counter  accepted|refused|failed, and why
 *   curvetun_handshake_duration_seconds           histogram from TCP arrival (serve) or connect (tunnel) to the end of the handshake
 *   curvetun_connections_dropped_total{reason}    counter  dropped before or without a handshake
 *   curvetun_bytes_total{direction}               counter  up = client → service, down = service → client
 *   curvetun_worker_restarts_total{worker}        counter  vault, registry, cookie-keeper workers restarted by their supervisor
 *   process_*, nodejs_*                           prom-client's default process metrics
 *
 * Under `--workers` (cli/workers.ts) each worker keeps its metrics and the primary serves their sum
 * (prom-client's AggregatorRegistry asks every worker over the cluster channel at each scrape),
 * plus its own `curvetun_worker_process_restarts_total`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HandshakeReport, Listener } from '../../lib/connection/listener.js';
import type { ActorRef } from '../../lib/runtime/index.js';
import { CurvetunError } from '../../lib/errors.js';
import { formatHostPort } from './args.js';
import type { HostPort } from './args.js';

/** What a command reports; `NO_METRICS` when there is no --metrics. */
export interface Metrics {
  connectionOpened(): void;
  connectionClosed(): void;
  handshake(report: HandshakeReport): void;
  /** A client-side handshake (tunnel): how long `connect()` took, and its error if it failed. */
  clientHandshake(seconds: number, error: unknown): void;
  dropped(reason: string): void;
  bytes(direction: 'up' | 'down', count: number): void;
  /** Count the restarts of these workers, by name. */
  watchWorkers(workers: Record<string, ActorRef>): void;
  /** Count the connections this listener dropped before any handshake. */
  watchListener(listener: Listener): void;
  close(): Promise<void>;
}

const nothing = () => undefined;
export const NO_METRICS: Metrics = {
  connectionOpened: nothing,
  connectionClosed: nothing,
  handshake: nothing,
  clientHandshake: nothing,
  dropped: nothing,
  bytes: nothing,
  watchWorkers: nothing,
  watchListener: nothing,
  close: async () => undefined,
};

/** A low-cardinality reason label for a failed handshake. */
function failureReason(error: unknown): string {
  const code = error instanceof CurvetunError ? error.code : 'EIO';
  switch (code) {
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EPROTO':
      return 'protocol';
    case 'EAUTH':
      return 'authentication';
    case 'ECLOSED':
      return 'closed';
    case 'EBUSY':
      return 'busy';
    case 'EDENIED':
      return 'address_not_allowed';
    default:
      return code.toLowerCase();
  }
}

type Prom = typeof import('prom-client');

/**
 * GET /metrics on `at`, answered by `page`; resolves once listening. The HTTP server is unref'd:
 * it never keeps the process alive.
 */
async function serveMetrics(at: HostPort, page: () => Promise<{ text: string; contentType: string }>): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    page().then(
      ({ text, contentType }) => response.writeHead(200, { 'content-type': contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new CurvetunError('EIO', `cannot serve metrics on ${formatHostPort(at.host, at.port)}: ${error.code ?? error.message}`, { cause: error })),
    );
    // exclusive: in a cluster primary or worker, this port is this process's own, not shared.
    server.listen({ port: at.port, host: at.host, exclusive: true }, () => resolve());
  });
  server.unref();
  const bound = server.address() as AddressInfo;
  return {
    url: `http://${formatHostPort(bound.address, bound.port)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a scraper's keep-alive connection must not hold the exit
      }),
  };
}

/**
 * The primary of `--workers`: serve the sum of the workers' metrics on `at`, and how many times
 * it restarted a worker (`restarts`).
 */
export async function startClusterMetrics(at: HostPort, restarts: () => number): Promise<{ url: string; close(): Promise<void> }> {
  const prom: Prom = await import('prom-client');
  const aggregator = new prom.AggregatorRegistry();
  const own = new prom.Registry();
  let seen = 0;
  new prom.Counter({
    name: 'curvetun_worker_process_restarts_total',
    help: 'Worker processes (--workers) the primary restarted after they died.',
    registers: [own],
    collect() {
      this.inc(restarts() - seen);
      seen = restarts();
    },
  });
  return serveMetrics(at, async () => ({ text: `${await aggregator.clusterMetrics()}\n${await own.metrics()}`, contentType: aggregator.contentType }));
}

/**
 * A command's metrics, served on `at`; in a worker of `--workers` (`inCluster`), handed to the
 * primary instead when it asks (no HTTP server here, `url` null).
 */
export async function startMetrics(at: HostPort, inCluster = false): Promise<{ metrics: Metrics; url: string | null }> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const open = new prom.Gauge({ name: 'curvetun_connections_open', help: 'Connections being served now.', registers: [registry] });
  const handshakes = new prom.Counter({
    name: 'curvetun_handshakes_total',
    help: 'Handshakes by outcome (accepted, refused: the key is not allowed, failed) and reason.',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  const latency = new prom.Histogram({
    name: 'curvetun_handshake_duration_seconds',
    help: 'Time from the TCP connection (serve) or the connect call (tunnel) to the end of the handshake.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const listeners: Listener[] = [];
  const seenDrops = { address: 0, limit: 0 };
  const dropped = new prom.Counter({
    name: 'curvetun_connections_dropped_total',
    help: 'Connections dropped before or without a handshake, by reason.',
    collect() {
      // The listeners count; the counter catches up at each scrape (also when the primary asks).
      const address = listeners.reduce((n, l) => n + l.stats.droppedByAddress, 0);
      const limit = listeners.reduce((n, l) => n + l.stats.droppedByLimit, 0);
      this.inc({ reason: 'address_not_allowed' }, address - seenDrops.address);
      this.inc({ reason: 'too_many_handshakes' }, limit - seenDrops.limit);
      seenDrops.address = address;
      seenDrops.limit = limit;
    },
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const bytes = new prom.Counter({
    name: 'curvetun_bytes_total',
    help: 'Application bytes carried: up = client to service, down = service to client.',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  bytes.inc({ direction: 'up' }, 0);
  bytes.inc({ direction: 'down' }, 0);
  const workers: Record<string, ActorRef> = {};
  const seenRestarts = new Map<string, number>();
  new prom.Counter({
    name: 'curvetun_worker_restarts_total',
    help: 'Worker threads (vault, registry, cookie keeper) restarted by their supervisor after a crash.',
    labelNames: ['worker'] as const,
    registers: [registry],
    collect() {
      // The supervisors count; the counter catches up at each scrape.
      for (const [name, ref] of Object.entries(workers)) {
        this.inc({ worker: name }, ref.restarts - (seenRestarts.get(name) ?? 0));
        seenRestarts.set(name, ref.restarts);
      }
    },
  });

  let served: { url: string; close(): Promise<void> } | null = null;
  if (inCluster) {
    // The primary's AggregatorRegistry asks each worker's registries over the cluster channel.
    prom.AggregatorRegistry.setRegistries([registry]);
    new prom.AggregatorRegistry(); // installs the worker's answer to the primary's requests
  } else {
    served = await serveMetrics(at, async () => ({ text: await registry.metrics(), contentType: registry.contentType }));
  }

  const metrics: Metrics = {
    connectionOpened: () => open.inc(),
    connectionClosed: () => open.dec(),
    handshake(report) {
      latency.observe(report.durationMs / 1000);
      if (report.error === null) handshakes.inc({ outcome: 'accepted', reason: 'ok' });
      else if (report.keyRefused) handshakes.inc({ outcome: 'refused', reason: 'key_not_allowed' });
      else handshakes.inc({ outcome: 'failed', reason: failureReason(report.error) });
    },
    clientHandshake(seconds, error) {
      latency.observe(seconds);
      if (error === null || error === undefined) handshakes.inc({ outcome: 'accepted', reason: 'ok' });
      else handshakes.inc({ outcome: 'failed', reason: failureReason(error) });
    },
    dropped: (reason) => dropped.inc({ reason }),
    bytes: (direction, count) => bytes.inc({ direction }, count),
    watchWorkers(more) {
      for (const [name, ref] of Object.entries(more)) {
        workers[name] = ref;
        seenRestarts.set(name, 0);
      }
    },
    watchListener: (listener) => void listeners.push(listener),
    close: async () => served?.close(),
  };
  return { metrics, url: served?.url ?? null };
}
