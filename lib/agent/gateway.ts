/**
 * The gateway: agents dial in (curvetun, keys checked by the registry), and local TCP ports are
 * mapped to (agent, target). Each connection to an exposed port becomes one channel through that
 * agent's live connection; when the agent is not connected, the local connection is refused at
 * once (reset), with an event saying so.
 *
 * Agents are named in the rules by key, fingerprint or registry name (identity.ts), resolved once
 * at start. A connection whose key no rule names is closed: the registry may list keys for other
 * uses. When an agent reconnects while its old connection still looks alive (a dead peer's TCP
 * can linger), new channels go to the newest connection; the old one keeps its channels until
 * it ends.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket as TcpSocket } from 'node:net';
import { listen } from '../api.js';
import { ChannelRefusedError, ChannelSession, canonicalTarget } from '../channels/index.js';
import type { ChannelLimits, ChannelTarget } from '../channels/index.js';
import type { HandshakeReport, Listener } from '../connection/listener.js';
import type { ListenOptions } from '../connection/options.js';
import type { CurvetunSocket } from '../connection/socket.js';
import { CurvetunError, systemError } from '../errors.js';
import { defaultHome } from '../home.js';
import { INSPECT, describe } from '../inspect.js';
import { fingerprint } from '../keys/fingerprint.js';
import { encodePublicKeyText } from '../keys/text.js';
import { forwardHalfClose } from '../stream/forward.js';
import type { Carried, GatewayEvents } from './events.js';
import { agentLabel, resolveAgent } from './identity.js';
import type { AgentIdentity } from './identity.js';

/** One exposed port: connections to `listen` go to `target` through `agent`. */
export interface ExposeRule {
  /** The local address clients connect to (port 0 picks one). */
  listen: { host: string; port: number };
  /** The agent: its public key, its fingerprint (`SHA256:…`) or its registry name. */
  agent: string;
  /** Where the agent connects, as it sees the network (checked against its allow-list). */
  target: ChannelTarget;
}

export interface GatewayOptions {
  /** The port agents connect to (0 picks one). */
  port: number;
  /** Options of the agents' listener, as for `listen()` (host, vault, registry, …). `acceptAnyClient` is refused. */
  listen?: ListenOptions;
  expose: readonly ExposeRule[];
  /** How long a local connection waits for the agent to answer its channel open, ms (default 30 000). */
  openTimeout?: number;
  /** Local connections carried at once, all ports together; one more is refused at once (default 1 024). */
  maxConnections?: number;
  /** Limits of the channel session over each agent connection. */
  channels?: Partial<ChannelLimits>;
  /** Told about every local connection as it starts (a service counts them and drains them). */
  onCarry?: (carried: Carried) => void;
}

export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;
export const DEFAULT_GATEWAY_MAX_CONNECTIONS = 1024;

interface LiveAgent {
  identity: AgentIdentity;
  peer: string;
  session: ChannelSession;
}

/** An exposed port once bound. */
export interface ExposedPort {
  rule: ExposeRule;
  identity: AgentIdentity;
  /** The bound local address. */
  address(): AddressInfo;
}

type Rule = ExposeRule & { target: ChannelTarget };

const nameOf = (identity: AgentIdentity) => ({ fingerprint: identity.fingerprint, ...(identity.name ? { name: identity.name } : {}) });

/**
 * @example
 * const gateway = await Gateway.start({
 *   port: 7000,
 *   listen: { host: '0.0.0.0' },
 *   expose: [{ listen: { host: '127.0.0.1', port: 6379 }, agent: 'acme-db', target: { host: '10.1.2.3', port: 6379 } }],
 * });
 * gateway.on('channelRefused', (c) => console.log(`refused ${c.client} → ${c.target}: ${c.reason}`));
 */
export class Gateway extends EventEmitter<GatewayEvents> {
  /** Live connections per agent key (base64), newest last. */
  private readonly live = new Map<string, LiveAgent[]>();
  private readonly servers: Server[] = [];
  private readonly locals = new Set<TcpSocket>();
  private closing = false;
  /** The port agents connect to. */
  readonly port: number;

  private constructor(
    /** The listener agents connect to. */
    readonly listener: Listener,
    /** The exposed ports, in the order of the rules. */
    readonly exposed: readonly ExposedPort[],
    private readonly options: GatewayOptions & { openTimeout: number; maxConnections: number },
  ) {
    super();
    this.port = listener.address().port;
  }

  /** Resolve the agents, bind the agents' listener and every exposed port. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const listenOptions = options.listen ?? {};
    if (listenOptions.acceptAnyClient) throw new CurvetunError('EINVAL', 'a gateway serves only agents its registry lists (acceptAnyClient is refused)');
    const openTimeout = options.openTimeout ?? DEFAULT_OPEN_TIMEOUT_MS;
    if (!Number.isFinite(openTimeout) || openTimeout <= 0) throw new CurvetunError('EINVAL', 'openTimeout must be a positive number of ms');
    const maxConnections = options.maxConnections ?? DEFAULT_GATEWAY_MAX_CONNECTIONS;
    if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw new CurvetunError('EINVAL', 'maxConnections must be a positive integer');
    if (!Array.isArray(options.expose) || options.expose.length === 0) throw new CurvetunError('EINVAL', 'a gateway exposes at least one port');
    const registry = listenOptions.registry ?? (await defaultHome().registry());
    const rules = options.expose.map((rule) => ({ ...rule, target: canonicalTarget(rule.target) }));
    const identities = await Promise.all(rules.map((rule) => resolveAgent(rule.agent, registry)));
    const listener = await listen(options.port, { ...listenOptions, registry });
    const exposed: ExposedPort[] = [];
    const gateway = new Gateway(listener, exposed, { ...options, openTimeout, maxConnections });
    try {
      for (const [i, rule] of rules.entries()) {
        const server = await gateway.bind(rule, identities[i]!);
        exposed.push({ rule, identity: identities[i]!, address: () => server.address() as AddressInfo });
      }
    } catch (error) {
      await gateway.close();
      throw error;
    }
    listener.on('handshake', (report) => gateway.handshakeFailed(report));
    void gateway.acceptAgents(new Set(identities.map((id) => encodePublicKeyText(id.key))));
    return gateway;
  }

  /** What util.inspect shows: counts, no keys or bytes. */
  [INSPECT](): string {
    return describe('Gateway', { port: this.port, exposed: this.exposed.length, agents: this.agents().length, locals: this.locals.size });
  }

  /** The agents connected now (one entry per connection). */
  agents(): { agent: { fingerprint: string; name?: string }; peer: string }[] {
    return [...this.live.values()].flat().map((a) => ({ agent: nameOf(a.identity), peer: a.peer }));
  }

  /** Stop taking local connections (the exposed ports close); open ones and the agents carry on. */
  stopAccepting(): void {
    this.closing = true;
    for (const server of this.servers) server.close();
  }

  /** Stop: the exposed ports and the agents' listener close, and so do every agent connection and local connection. */
  async close(): Promise<void> {
    this.closing = true;
    // server.close() waits for the connections it still has: stop accepting, then end them.
    const serversClosed = Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const local of this.locals) local.resetAndDestroy();
    await serversClosed;
    await this.listener.close();
    await Promise.all([...this.live.values()].flat().map((a) => a.session.close().catch(() => undefined)));
  }

  private bind(rule: Rule, identity: AgentIdentity): Promise<Server> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (local) => this.serveLocal(local, rule, identity));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(systemError('EIO', `cannot listen on ${rule.listen.host}:${rule.listen.port}: ${error.code ?? error.message}`, error)),
      );
      server.listen(rule.listen.port, rule.listen.host, () => resolve(server));
    });
  }

  private handshakeFailed(report: HandshakeReport): void {
    if (report.error === null) return;
    const key = report.peerKey ? fingerprint(report.peerKey) : undefined;
    this.emit('agentRefused', { peer: `${report.remoteAddress}:${report.remotePort}`, ...(key ? { key } : {}), keyRefused: report.keyRefused, reason: report.error });
  }

  private async acceptAgents(agentKeys: Set<string>): Promise<void> {
    try {
      for await (const socket of this.listener) this.adopt(socket, agentKeys);
    } catch {
      // the listener closed
    }
  }

  private adopt(socket: CurvetunSocket, agentKeys: Set<string>): void {
    const key = encodePublicKeyText(socket.peerKey);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!agentKeys.has(key)) {
      const reason = new CurvetunError('EAUTH', 'the key is in the registry but no expose rule names it as an agent');
      this.emit('agentRefused', { peer, key: fingerprint(socket.peerKey), keyRefused: true, reason });
      socket.close().catch(() => undefined);
      return;
    }
    const identity = this.exposed.find((e) => encodePublicKeyText(e.identity.key) === key)!.identity;
    const agent: LiveAgent = { identity, peer, session: new ChannelSession(socket, this.options.channels ?? {}) };
    this.live.set(key, [...(this.live.get(key) ?? []), agent]);
    this.emit('agentConnect', { agent: nameOf(identity), peer });
    agent.session.once('close', (reason) => {
      const left = (this.live.get(key) ?? []).filter((a) => a !== agent);
      if (left.length > 0) this.live.set(key, left);
      else this.live.delete(key);
      this.emit('agentDisconnect', { agent: nameOf(identity), peer, reason });
    });
  }

  /** One local connection: a channel through the agent's newest connection, or an immediate reset. */
  private serveLocal(local: TcpSocket, rule: Rule, identity: AgentIdentity): void {
    const client = `${local.remoteAddress}:${local.remotePort}`;
    const target = `${rule.target.host}:${rule.target.port}`;
    const agentName = nameOf(identity);
    const agent = this.live.get(encodePublicKeyText(identity.key))?.at(-1);
    const refuse = (reason: 'agent-not-connected' | 'too-many-connections', detail: string) => {
      local.resetAndDestroy();
      this.emit('channelRefused', { target, reason, detail, agent: agentName, client });
    };
    if (this.closing) return refuse('agent-not-connected', 'the gateway is stopping');
    if (!agent) return refuse('agent-not-connected', `agent ${agentLabel(identity)} is not connected`);
    if (this.locals.size >= this.options.maxConnections) return refuse('too-many-connections', `${this.locals.size} local connections are open (the limit)`);
    this.locals.add(local);
    local.on('error', () => undefined); // a client's reset while we wait; forwarding reports its own
    const startedAt = Date.now();
    const done = this.carry(local, agent, { target, agentName, client, startedAt }, rule.target);
    local.once('close', () => this.locals.delete(local));
    this.options.onCarry?.({ done, abort: () => local.resetAndDestroy() });
  }

  private async carry(local: TcpSocket, agent: LiveAgent, info: { target: string; agentName: ReturnType<typeof nameOf>; client: string; startedAt: number }, target: ChannelTarget): Promise<void> {
    const { agentName, client } = info;
    // A client that leaves while the agent is still connecting withdraws the open.
    const gaveUp = new AbortController();
    const onEarlyClose = () => gaveUp.abort();
    local.once('close', onEarlyClose);
    let channel;
    try {
      channel = await agent.session.open(target, { timeout: this.options.openTimeout, signal: gaveUp.signal });
    } catch (error) {
      local.resetAndDestroy();
      const e = error as CurvetunError;
      const reason = e instanceof ChannelRefusedError ? e.reason : e.code === 'ETIMEDOUT' ? 'timed-out' : 'failed';
      this.emit('channelRefused', { target: info.target, reason, detail: e.message, agent: agentName, client });
      return;
    } finally {
      local.off('close', onEarlyClose);
    }
    const opened = { id: channel.id, target: info.target, agent: agentName, client };
    this.emit('channelOpen', opened);
    const stats = await forwardHalfClose(local, channel);
    this.emit('channelClose', { ...opened, bytesToTarget: stats.tcpToTunnel, bytesFromTarget: stats.tunnelToTcp, durationMs: Date.now() - info.startedAt, end: stats.end });
  }
}
