/**
 * curvetun: encrypted, mutually authenticated, message-oriented tunnels over TCP
 * (the curve_tun protocol v1.0).
 *
 * @example
 * import { listen, connect } from 'curvetun';
 *
 * const listener = await listen(7000, { acceptAnyClient: true });
 * const client = await connect('127.0.0.1', 7000, { serverKey: listener.publicKey });
 * const server = await listener.accept();
 * await client.send('ping');
 * console.log(new TextDecoder().decode(await server.recv()));
 */
export { listen, connect } from './api.js';
export type { ListenOptions, ConnectOptions, CommonOptions, CryptoChoice, KeepAlive, Protocol, ProxyProtocolOptions } from './connection/options.js';
export { CurvetunSocket } from './connection/socket.js';
export type { RecvOptions } from './connection/socket.js';
export { Listener } from './connection/listener.js';
export type { ListenerStats, HandshakeReport } from './connection/listener.js';
export { Home, defaultHome, stopDefaultHome } from './home.js';
export type { HomeOptions } from './home.js';
export { CurvetunError, ProtocolError, RejectedError, isCurvetunError } from './errors.js';
export type { ErrorCode, RejectReasonText } from './errors.js';
export { encodePublicKeyText, decodePublicKeyText, KEY_TYPE } from './keys/text.js';
export { fingerprint } from './keys/fingerprint.js';
// The interfaces behind the `vault`, `cookies`, `registry` and `crypto` options (implementing one
// is adapter work: see 'curvetun/adapters').
export type { Vault, SealedBox } from './vault/types.js';
export type { CookieKeeper } from './cookie/types.js';
export type { Registry, RegistryEntry, Verdict } from './registry/types.js';
export type { CryptoBackend, KeyPair } from './crypto/backend.js';
export { getBackend, availableBackends } from './crypto/index.js';
export { MAX_MESSAGE_BYTES } from './protocol/index.js';
export { WorkerVault, LocalVault, SodiumVault } from './vault/index.js';
export type { FileVaultOptions, WorkerVaultOptions } from './vault/index.js';
export { openRegistry, WorkerRegistry } from './registry/index.js';
export type { OpenRegistryOptions, TofuInfo, RegistryStatus, WorkerRegistryEvents } from './registry/index.js';
export { startCookieKeeper, LocalCookieKeeper } from './cookie/index.js';
export type { StartCookieKeeperOptions } from './cookie/index.js';
export { AddressFilter } from './net/index.js';
// Key files. Nothing here hands out secret key bytes (that is adapter work: 'curvetun/adapters').
export { generateKeyFiles } from './keys/generate.js';
export { loadPublicKeyFile, publicKeyFileFor } from './keys/keyfile.js';
// Stream mode: a byte-stream Duplex over a connected socket (`socket.stream()`).
export { MessageStream, forward } from './stream/index.js';
export type { MessageStreamOptions, ForwardStats } from './stream/index.js';
// Channels: many Duplex byte streams (each with its own flow control and half-close) over one
// connection, and agent mode built on them: an Agent inside a private network keeps one outbound
// connection to a Gateway, which carries local ports through it (docs/agent.md).
export { ChannelSession, Channel, ChannelRequest, ChannelRefusedError, DEFAULT_CHANNEL_LIMITS } from './channels/index.js';
export type { ChannelCarrier, ChannelSessionOptions, ChannelSessionStats, ChannelTarget, ChannelLimits, RefuseReason } from './channels/index.js';
export { Agent, Gateway, DEFAULT_BACKOFF } from './agent/index.js';
export type {
  AgentOptions,
  GatewayOptions,
  ExposeRule,
  ExposedPort,
  BackoffOptions,
  AgentEvents,
  GatewayEvents,
  AgentName,
  Carried,
  ChannelOpened,
  ChannelRefused,
  ChannelClosed,
} from './agent/index.js';
