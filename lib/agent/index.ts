export { Agent, DEFAULT_DIAL_TIMEOUT_MS } from './agent.js';
export type { AgentOptions } from './agent.js';
export { Gateway, DEFAULT_OPEN_TIMEOUT_MS, DEFAULT_GATEWAY_MAX_CONNECTIONS } from './gateway.js';
export type { GatewayOptions, ExposeRule, ExposedPort } from './gateway.js';
export { resolveAgent, agentLabel } from './identity.js';
export type { AgentIdentity } from './identity.js';
export { backoffDelay, checkedBackoff, DEFAULT_BACKOFF } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { AgentEvents, GatewayEvents, AgentName, Carried, ChannelOpened, ChannelRefused, ChannelClosed } from './events.js';
