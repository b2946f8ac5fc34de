/**
 * What the agent and the gateway report, one event per step of each connection and channel, so a
 * program (or the CLI's log) can say what happened. Events name agents by key fingerprint and
 * registry name, targets by host and port, and never carry key material or data.
 */
import type { CurvetunError } from '../errors.js';
import type { RefuseReason } from '../channels/index.js';

/** How an agent is named: its key's fingerprint, and its registry name when it has one. */
export interface AgentName {
  fingerprint: string;
  name?: string;
}

/** A channel that opened: where to, and (agent side) which address was dialled. */
export interface ChannelOpened {
  /** The channel's id in its session. */
  id: number;
  /** `host:port` as the gateway asked for it. */
  target: string;
  /** Agent side: the address actually connected to. */
  address?: string;
  /** Gateway side: the agent that carries it, and the local client (`address:port`). */
  agent?: AgentName;
  client?: string;
}

/** A channel that did not open, and why. */
export interface ChannelRefused {
  id?: number;
  target: string;
  /**
   * The refusal reason; gateway side also `agent-not-connected` (nobody to ask) and
   * `too-many-connections` (its own limit).
   */
  reason: RefuseReason | 'agent-not-connected' | 'too-many-connections';
  /** One line for the log: what failed, without key material. */
  detail: string;
  agent?: AgentName;
  client?: string;
}

/** A channel that ended: bytes each way, how long it lasted, how it ended (`closed`, or an error code). */
export interface ChannelClosed extends ChannelOpened {
  /** Bytes from the gateway's client to the target, and back. */
  bytesToTarget: number;
  bytesFromTarget: number;
  durationMs: number;
  end: string;
}

/**
 * One connection being carried (a channel at the agent, a local connection at the gateway), for
 * a service that counts what is open and ends it when a drain runs out (the `onCarry` option).
 */
export interface Carried {
  /** Resolves once it has ended; never rejects. */
  done: Promise<void>;
  /** End it now: both sides see an abort. */
  abort(): void;
}

export interface AgentEvents {
  /** Connected to the gateway (after the handshake): where, and the gateway's key fingerprint. */
  connect: [info: { gateway: string; key: string }];
  /** Lost the gateway (or could not reach it); the next attempt comes in `retryInMs` (none when stopping). */
  disconnect: [info: { gateway: string; reason: CurvetunError; retryInMs: number | null; attempt: number }];
  channelOpen: [info: ChannelOpened];
  channelRefused: [info: ChannelRefused];
  channelClose: [info: ChannelClosed];
}

export interface GatewayEvents {
  /** An agent connected (its key is in the registry and named by an expose rule). */
  agentConnect: [info: { agent: AgentName; peer: string }];
  agentDisconnect: [info: { agent: AgentName; peer: string; reason: CurvetunError }];
  /**
   * A connection that is not one of our agents: a failed handshake (`keyRefused` when the registry
   * refused its key), or a key no rule names. `key` is the fingerprint of the key it offered.
   */
  agentRefused: [info: { peer: string; key?: string; keyRefused: boolean; reason: CurvetunError }];
  channelOpen: [info: ChannelOpened];
  channelRefused: [info: ChannelRefused];
  channelClose: [info: ChannelClosed];
}
