/**
 * Parties for agent-mode tests: plain TCP targets on loopback (an echo that keeps half-close and
 * counts the connections it took), TCP clients of a gateway's exposed port, and a
 * gateway with a real Agent dialled in, over real curvetun connections (vaults in workers).
 */
import { once } from 'node:events';
import { connect as tcpConnect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { Agent, Gateway } from '../../lib/agent/index.js';
import type { AgentOptions, GatewayOptions } from '../../lib/agent/index.js';
import type { WorkerRegistry } from '../../lib/registry/index.js';
import type { Registry } from '../../lib/registry/types.js';
import type { World } from './fixtures.js';

/** A registry line with a comment, whose first word names the key (the worker registry takes one). */
export async function addNamed(registry: Registry, who: string, key: Uint8Array, comment: string): Promise<void> {
  await (registry as WorkerRegistry).add({ who, key }, comment);
}

export interface Target {
  host: string;
  port: number;
  /** TCP connections it has accepted so far, and how many of them are still open. */
  connections: number;
  open: number;
  close(): Promise<void>;
}

async function serveOn(host: string, port: number, onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.listen(port, host);
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

function target(host: string, server: Server, port: number, counter: { n: number; open: number }): Target {
  return {
    host,
    port,
    get connections() {
      return counter.n;
    },
    get open() {
      return counter.open;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Echoes every byte; ends its side when the client ends its own (so half-close shows). */
export async function echoTarget(host = '127.0.0.1', port = 0): Promise<Target> {
  const counter = { n: 0, open: 0 };
  const { server, port: bound } = await serveOn(host, port, (socket) => {
    counter.n++;
    counter.open++;
    socket.once('close', () => counter.open--);
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  return target(host, server, bound, counter);
}

/**
 * A TCP client of `port`: sends `payload`, ends its side, and reads until the far end ends.
 * Resolves with what came back, or rejects with the socket error (ECONNRESET for a refusal).
 */
export function roundTrip(port: number, payload: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.end(payload));
  });
}

/** Wait (bounded, polling) until `check` holds. */
export async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Pair {
  gateway: Gateway;
  agent: Agent;
  /** The exposed ports, in the order of the rules. */
  ports: number[];
}

/**
 * A gateway (server vault, the world's registry listing the client vault as `test-agent`) and an
 * Agent with the client vault, connected. `expose` targets name the agent `test-agent`.
 */
export async function gatewayWithAgent(
  world: World,
  expose: { host: string; port: number }[],
  agentOptions: Omit<AgentOptions, 'gateway' | 'connect'> & { connect?: AgentOptions['connect'] },
  gatewayOptions: Partial<GatewayOptions> = {},
): Promise<Pair> {
  await world.registry.remove('127.0.0.1');
  await addNamed(world.registry, '127.0.0.1', world.clientVault.publicKey, 'test-agent');
  const gateway = await Gateway.start({
    port: 0,
    listen: { host: '127.0.0.1', vault: world.serverVault, registry: world.registry },
    expose: expose.map((t) => ({ listen: { host: '127.0.0.1', port: 0 }, agent: 'test-agent', target: t })),
    ...gatewayOptions,
  });
  const agent = new Agent({
    gateway: { host: '127.0.0.1', port: gateway.listener.address().port },
    connect: { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: 60_000 },
    backoff: { initialMs: 50, maxMs: 1000 },
    ...agentOptions,
  });
  const connected = once(gateway, 'agentConnect');
  agent.start();
  await connected;
  return { gateway, agent, ports: gateway.exposed.map((e) => e.address().port) };
}
