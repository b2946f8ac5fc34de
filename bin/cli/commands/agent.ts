/**
 * `curvetun agent` (inside a private network: one outbound connection to a gateway, opening the
 * TCP connections it asks for when --allow covers them) and `curvetun gateway` (agents dial in;
 * local ports are carried through them). Both are services (cli/service.ts): logs, drain on
 * SIGINT/SIGTERM, reload on SIGHUP, metrics. The work is the library's Agent and Gateway.
 */
import { existsSync } from 'node:fs';
import { Agent, Gateway } from '../../../lib/agent/index.js';
import type { ExposeRule } from '../../../lib/agent/index.js';
import { startCookieKeeper } from '../../../lib/cookie/index.js';
import { getBackend } from '../../../lib/crypto/index.js';
import { encodePublicKeyText, keysEqual } from '../../../lib/keys/text.js';
import { AddressFilter } from '../../../lib/net/index.js';
import { logAgent, logGateway } from '../agent-log.js';
import { UsageError, durationMs, formatHostPort, list, parseHostPort, positiveInt } from '../args.js';
import type { Parsed } from '../args.js';
import { Context, readKeyArgument } from '../context.js';
import type { Io } from '../io.js';
import { keyField } from '../log.js';
import { Connections, runUntilStopped, startService, watchKnownHosts } from '../service.js';
import { connectVersion, listenVersions } from '../versions.js';

function noPositionals(parsed: Parsed, command: string): void {
  if (parsed.positionals.length > 0) throw new UsageError(`${command} takes no arguments, got "${parsed.positionals[0]}"`);
}

/** A positive duration option (zero is not one). */
function positiveDuration(value: unknown, name: string, fallbackMs: number): number {
  const ms = durationMs(value, name, fallbackMs);
  if (ms <= 0) throw new UsageError(`--${name} must be more than zero`);
  return ms;
}

export async function agent(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'agent');
  const to = parseHostPort(parsed.values.to as string | undefined, '--to');
  const allow = list(parsed.values.allow);
  if (allow.length === 0) throw new UsageError(`--allow PATTERN is required: the targets the gateway may ask for ('*' allows anything)`);
  try {
    AddressFilter.parse(allow);
  } catch (error) {
    throw new UsageError(`--allow: ${(error as Error).message}`);
  }
  const timeout = positiveInt(parsed.values.timeout, 'timeout', 10_000);
  const dialTimeout = positiveDuration(parsed.values['dial-timeout'], 'dial-timeout', 10_000);
  const ctx = new Context(parsed, io.env, { logRegistryProblems: false });
  const keyOption = parsed.values['server-key'];
  try {
    const setup = await startService('agent', parsed, io, { key_file: ctx.keyFile, known_hosts: ctx.knownHostsFile, crypto: getBackend('auto').name });
    const { log, metrics, drainMs, maxConnections } = setup;
    // Fail at start, not at each reconnection, when the key or the gateway's key is missing.
    const serverKey = await ctx.serverKey(keyOption, to.host);
    const vault = await ctx.vault();
    metrics.watchWorkers({ vault: vault.actor });
    const connections = new Connections(maxConnections, metrics);
    const running = new Agent({
      gateway: to,
      allow,
      connect: { ...(await ctx.serverKeySource(keyOption, serverKey)), vault, timeout, ...connectVersion(parsed), ...setup.liveness, ...setup.keepAlive },
      dialTimeout,
      channels: { maxChannels: maxConnections },
      onCarry: (carried) => connections.run(() => carried.done, carried.abort),
    });
    logAgent(running, log, metrics);
    const toText = formatHostPort(to.host, to.port);
    log.info('connecting', { to: toText, server_key: keyField(serverKey), allow: allow.join(' ') });
    running.start();

    // Without --server-key, known_hosts names the gateway's key: when it names another, redial.
    const knownHosts = typeof keyOption === 'string' ? null : watchKnownHosts(await ctx.registry(), ctx.knownHostsFile, log);
    const recheck = async () => {
      const named = await (await ctx.registry()).lookup(to.host);
      const live = running.gatewayKey;
      if (live && !(named && keysEqual(live, named))) {
        log.warn('server_key_changed', { to: toText, key: keyField(named), before: keyField(live) });
        running.reconnect();
      }
    };
    if (knownHosts) (await ctx.registry()).on('reload', () => void recheck().catch(() => undefined));
    const code = await runUntilStopped(io, log, {
      connections,
      stopAccepting: async () => running.stopAccepting(),
      reload: async () => {
        if (!knownHosts) return log.info('reloaded', { changed: false, note: 'the gateway key comes from --server-key' });
        await knownHosts.reload();
        await recheck();
      },
    }, drainMs);
    await running.close();
    await metrics.close();
    return code;
  } finally {
    await ctx.close();
  }
}

/**
 * `LOCAL_HOST:PORT=AGENT:TARGET_HOST:PORT`. AGENT may hold colons (a fingerprint) and `=` (base64):
 * the local side ends at the first `=`, the target is the last `HOST:PORT` (`[v6]:PORT` too).
 */
export function parseExpose(text: string): ExposeRule {
  const usage = `--expose "${text}": write LOCAL_HOST:PORT=AGENT:TARGET_HOST:PORT`;
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(usage);
  const listen = parseHostPort(text.slice(0, eq), '--expose');
  const match = /^(.+):(\[[^\]]+\]:\d+|[^:[\]]+:\d+)$/.exec(text.slice(eq + 1));
  if (!match) throw new UsageError(usage);
  const target = parseHostPort(match[2], '--expose target');
  let agentSpec = match[1]!;
  if (existsSync(agentSpec)) agentSpec = encodePublicKeyText(readKeyArgument(agentSpec).key); // a .pub file
  return { listen, agent: agentSpec, target };
}

export async function gateway(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'gateway');
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const expose = list(parsed.values.expose).map(parseExpose);
  if (expose.length === 0) throw new UsageError('--expose LOCAL_HOST:PORT=AGENT:TARGET_HOST:PORT is required (one per exposed port)');
  const openTimeout = positiveDuration(parsed.values['open-timeout'], 'open-timeout', 30_000);
  const ctx = new Context(parsed, io.env, { logRegistryProblems: false });
  try {
    const setup = await startService('gateway', parsed, io, { key_file: ctx.keyFile, known_hosts: ctx.knownHostsFile, crypto: getBackend('auto').name });
    const { log, metrics, drainMs, maxConnections } = setup;
    const vault = await ctx.vault();
    const registry = await ctx.registry();
    // Our own cookie keeper (not the one listen() would start) so that its restarts are counted.
    const cookies = await startCookieKeeper();
    try {
      const connections = new Connections(maxConnections, metrics);
      const running = await Gateway.start({
        port: at.port,
        listen: { host: at.host, vault, registry, cookies, ...listenVersions(parsed), ...setup.liveness, ...setup.keepAlive },
        expose,
        openTimeout,
        maxConnections,
        onCarry: (carried) => connections.run(() => carried.done, carried.abort),
      });
      metrics.watchWorkers({ vault: vault.actor, registry: registry.actor, 'cookie-keeper': cookies.actor });
      metrics.watchListener(running.listener);
      running.listener.on('handshake', (report) => metrics.handshake(report));
      logGateway(running, log, metrics);
      const knownHosts = watchKnownHosts(registry, ctx.knownHostsFile, log);
      const bound = running.listener.address();
      log.info('listening', { address: formatHostPort(bound.address, bound.port), key: keyField(vault.publicKey) });
      for (const port of running.exposed) {
        const local = port.address();
        const { host, port: targetPort } = port.rule.target;
        log.info('exposing', { address: formatHostPort(local.address, local.port), agent: port.identity.name, key: port.identity.fingerprint, target: formatHostPort(host, targetPort) });
      }
      const code = await runUntilStopped(io, log, {
        connections,
        stopAccepting: async () => running.stopAccepting(),
        reload: async () => {
          // A key known_hosts no longer allows loses its agent connection (it may dial again once allowed).
          await knownHosts.reload();
          await running.listener.reverify();
        },
      }, drainMs);
      await running.close();
      await metrics.close();
      return code;
    } finally {
      await cookies.close();
    }
  } finally {
    await ctx.close();
  }
}
