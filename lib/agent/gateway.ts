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
import type { Listener } from '../connection/listener.js';
import type { ListenOptions } from '../connection/options.js';
import type { CurvetunSocket } from '../connection/socket.js';
import { CurvetunError } from '../errors.js';
import { defaultHome } from '../home.js';
import { encodePublicKeyText } from '../keys/text.js';
import { forwardHalfClose } from '../stream/forward.js';
import type { GatewayEvents } from './events.js';
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
  /** Limits of the channel session over each agent connection. */
  channels?: Partial<ChannelLimits>;
}

export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;

interface LiveAgent {
  identity: AgentIdentity;
  address: string;
  session: ChannelSession;
}

/** An exposed port once bound. */
export interface ExposedPort {
  rule: ExposeRule;
  identity: AgentIdentity;
  /** The bound local address. */
  address(): AddressInfo;
}

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

  private constructor(
    /** The listener agents connect to. */
    readonly listener: Listener,
    /** The exposed ports, in the order of the rules. */
    readonly exposed: readonly ExposedPort[],
    private readonly openTimeout: number,
    private readonly channelLimits: Partial<ChannelLimits>,
  ) {
    super();
  }

  /** Resolve the agents, bind the agents' listener and every exposed port. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const listenOptions = options.listen ?? {};
    if (listenOptions.acceptAnyClient) throw new CurvetunError('EINVAL', 'a gateway serves only agents its registry lists (acceptAnyClient is refused)');
    const openTimeout = options.openTimeout ?? DEFAULT_OPEN_TIMEOUT_MS;
    if (!Number.isFinite(openTimeout) || openTimeout <= 0) throw new CurvetunError('EINVAL', 'openTimeout must be a positive number of ms');
    if (!Array.isArray(options.expose) || options.expose.length === 0) throw new CurvetunError('EINVAL', 'a gateway exposes at least one port');
    const registry = listenOptions.registry ?? (await defaultHome().registry());
    const rules = options.expose.map((rule) => ({ ...rule, target: canonicalTarget(rule.target) }));
    const identities = await Promise.all(rules.map((rule) => resolveAgent(rule.agent, registry)));
    const listener = await listen(options.port, { ...listenOptions, registry });
    const exposed: ExposedPort[] = [];
    const gateway = new Gateway(listener, exposed, openTimeout, options.channels ?? {});
    try {
      for (const [i, rule] of rules.entries()) {
        const server = await gateway.bind(rule, identities[i]!);
        exposed.push({ rule, identity: identities[i]!, address: () => server.address() as AddressInfo });
      }
    } catch (error) {
      await gateway.close();
      throw error;
    }
    listener.on('handshakeError', (reason, address) => gateway.emit('agentRefused', { address, reason }));
    void gateway.acceptAgents(new Set(identities.map((id) => encodePublicKeyText(id.key))));
    return gateway;
  }

  /** The agents connected now (one entry per connection). */
  agents(): { agent: string; address: string }[] {
    return [...this.live.values()].flat().map((a) => ({ agent: agentLabel(a.identity), address: a.address }));
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

  private bind(rule: ExposeRule & { target: ChannelTarget }, identity: AgentIdentity): Promise<Server> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (local) => this.serveLocal(local, rule, identity));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new CurvetunError('EINVAL', `cannot listen on ${rule.listen.host}:${rule.listen.port}: ${error.code ?? error.message}`, { cause: error })),
      );
      server.listen(rule.listen.port, rule.listen.host, () => resolve(server));
    });
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
    const address = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!agentKeys.has(key) || this.closing) {
      this.emit('agentRefused', { address, reason: new CurvetunError('EAUTH', 'the key is in the registry but no expose rule names it as an agent') });
      socket.close().catch(() => undefined);
      return;
    }
    const identity = this.exposed.find((e) => encodePublicKeyText(e.identity.key) === key)!.identity;
    const agent: LiveAgent = { identity, address, session: new ChannelSession(socket, this.channelLimits) };
    const list = this.live.get(key) ?? [];
    list.push(agent);
    this.live.set(key, list);
    this.emit('agentConnect', { agent: agentLabel(identity), address });
    agent.session.once('close', (reason) => {
      const left = (this.live.get(key) ?? []).filter((a) => a !== agent);
      if (left.length > 0) this.live.set(key, left);
      else this.live.delete(key);
      this.emit('agentDisconnect', { agent: agentLabel(identity), address, reason });
    });
  }

  /** One local connection: a channel through the agent's newest connection, or an immediate reset. */
  private serveLocal(local: TcpSocket, rule: ExposeRule & { target: ChannelTarget }, identity: AgentIdentity): void {
    const client = `${local.remoteAddress}:${local.remotePort}`;
    const target = `${rule.target.host}:${rule.target.port}`;
    const agentName = agentLabel(identity);
    const agent = this.live.get(encodePublicKeyText(identity.key))?.at(-1);
    if (!agent || this.closing) {
      local.resetAndDestroy();
      this.emit('channelRefused', { target, reason: 'agent-not-connected', detail: `agent ${agentName} is not connected`, agent: agentName, client });
      return;
    }
    this.locals.add(local);
    local.once('close', () => this.locals.delete(local));
    local.on('error', () => undefined); // a client's reset while we wait; forwarding reports its own
    // A client that leaves while the agent is still connecting withdraws the open.
    const gaveUp = new AbortController();
    const onEarlyClose = () => gaveUp.abort();
    local.once('close', onEarlyClose);
    agent.session.open(rule.target, { timeout: this.openTimeout, signal: gaveUp.signal }).then(
      async (channel) => {
        local.off('close', onEarlyClose);
        const opened = { id: channel.id, target, agent: agentName, client };
        this.emit('channelOpen', opened);
        const stats = await forwardHalfClose(local, channel);
        this.emit('channelClose', { ...opened, bytesToTarget: stats.tcpToTunnel, bytesFromTarget: stats.tunnelToTcp, end: stats.end });
      },
      (error: CurvetunError) => {
        local.resetAndDestroy();
        const reason = error instanceof ChannelRefusedError ? error.reason : error.code === 'ETIMEDOUT' ? 'timed-out' : 'failed';
        this.emit('channelRefused', { target, reason, detail: error.message, agent: agentName, client });
      },
    );
  }
}
