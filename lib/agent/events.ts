/**
 * What the agent and the gateway report, one event per step of each connection and channel, so a
 * program (or the CLI's log) can say what happened. Events name agents by fingerprint and name,
 * targets by host and port, and never carry key material or data.
 */
import type { CurvetunError } from '../errors.js';
import type { RefuseReason } from '../channels/index.js';

/** A channel that opened: where to, and (agent side) which address was dialled. */
export interface ChannelOpened {
  /** The channel's id in its session. */
  id: number;
  /** `host:port` as the gateway asked for it. */
  target: string;
  /** Agent side: the address actually connected to. */
  address?: string;
  /** Gateway side: the agent that carries it, and the local client (`address:port`). */
  agent?: string;
  client?: string;
}

/** A channel that did not open, and why. */
export interface ChannelRefused {
  id?: number;
  target: string;
  /** The refusal reason, or (gateway side) `agent-not-connected` when there was nobody to ask. */
  reason: RefuseReason | 'agent-not-connected';
  /** One line for the log: what failed, without key material. */
  detail: string;
  agent?: string;
  client?: string;
}

/** A channel that ended: bytes each way, and how it ended (`closed`, or an error code). */
export interface ChannelClosed extends ChannelOpened {
  /** Bytes from the gateway side to the target, and back. */
  bytesToTarget: number;
  bytesFromTarget: number;
  end: string;
}

export interface AgentEvents {
  /** Connected to the gateway (after the handshake). */
  connect: [info: { gateway: string }];
  /** Lost the gateway (or could not reach it); the next attempt comes in `retryInMs`. */
  disconnect: [info: { gateway: string; reason: CurvetunError; retryInMs: number; attempt: number }];
  channelOpen: [info: ChannelOpened];
  channelRefused: [info: ChannelRefused];
  channelClose: [info: ChannelClosed];
}

export interface GatewayEvents {
  /** An agent connected (its key is in the registry and named by an expose rule). */
  agentConnect: [info: { agent: string; address: string }];
  agentDisconnect: [info: { agent: string; address: string; reason: CurvetunError }];
  /** A connection that is not one of our agents: a failed handshake, or a key no rule names. */
  agentRefused: [info: { address: string; reason: CurvetunError }];
  channelOpen: [info: ChannelOpened];
  channelRefused: [info: ChannelRefused];
  channelClose: [info: ChannelClosed];
}
