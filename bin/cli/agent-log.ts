/**
 * The log lines of `curvetun agent` and `curvetun gateway`: one per event of the library's Agent
 * and Gateway (lib/agent/events.ts), in the services' format (cli/log.ts), and their bytes in the
 * metrics. `up` is the gateway's client → the target, `down` the way back, at both ends.
 *
 *   agent:   connected, disconnected, channel_open, channel_refused, channel_closed
 *   gateway: agent_connected, agent_disconnected, refused, channel_open, channel_refused, channel_closed
 *
 * Agents are named `agent=<registry name>` (when it has one) and `key=<fingerprint>`; no key
 * bytes reach a line.
 */
import type { Agent, AgentName, ChannelClosed, Gateway } from '../../lib/agent/index.js';
import type { Log } from './log.js';
import type { Metrics } from './metrics.js';

function agentFields(agent: AgentName | undefined): { agent: string | undefined; key: string | undefined } {
  return { agent: agent?.name, key: agent?.fingerprint };
}

function closeFields(c: ChannelClosed) {
  return { up: c.bytesToTarget, down: c.bytesFromTarget, duration_ms: c.durationMs, reason: c.end };
}

function countBytes(metrics: Metrics, c: ChannelClosed): void {
  metrics.bytes('up', c.bytesToTarget);
  metrics.bytes('down', c.bytesFromTarget);
}

export function logAgent(agent: Agent, log: Log, metrics: Metrics): void {
  agent.on('connect', (c) => log.info('connected', { to: c.gateway, server_key: c.key }));
  agent.on('disconnect', (d) =>
    log.warn('disconnected', { to: d.gateway, code: d.reason.code, reason: d.reason.message, attempt: d.attempt, retry_in_ms: d.retryInMs ?? undefined }),
  );
  agent.on('channelOpen', (c) => log.info('channel_open', { channel: c.id, target: c.target, address: c.address }));
  agent.on('channelRefused', (c) => log.warn('channel_refused', { channel: c.id, target: c.target, reason: c.reason, detail: c.detail }));
  agent.on('channelClose', (c) => {
    countBytes(metrics, c);
    log.info('channel_closed', { channel: c.id, target: c.target, address: c.address, ...closeFields(c) });
  });
}

export function logGateway(gateway: Gateway, log: Log, metrics: Metrics): void {
  gateway.on('agentConnect', (a) => log.info('agent_connected', { ...agentFields(a.agent), peer: a.peer }));
  gateway.on('agentDisconnect', (a) => log.warn('agent_disconnected', { ...agentFields(a.agent), peer: a.peer, reason: a.reason.message }));
  // A key refused is worth a warning; scanners and broken clients are not.
  gateway.on('agentRefused', (r) => (r.keyRefused ? log.warn : log.info).call(log, 'refused', { peer: r.peer, key: r.key, reason: r.reason.message }));
  gateway.on('channelOpen', (c) => log.info('channel_open', { channel: c.id, ...agentFields(c.agent), client: c.client, target: c.target }));
  gateway.on('channelRefused', (c) => log.warn('channel_refused', { ...agentFields(c.agent), client: c.client, target: c.target, reason: c.reason, detail: c.detail }));
  gateway.on('channelClose', (c) => {
    countBytes(metrics, c);
    log.info('channel_closed', { channel: c.id, ...agentFields(c.agent), client: c.client, target: c.target, ...closeFields(c) });
  });
}
