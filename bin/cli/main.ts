/**
 * The `curvetun` command: picks the subcommand, parses its options, maps outcomes to exit codes
 * (0 ok, 1 failure, 2 usage) and failures to one line on stderr. Key bytes are never printed:
 * commands print public keys only, and library errors never carry key material.
 */
import { CurvetunError } from '../../lib/errors.js';
import { SERVICE_OPTIONS, UsageError, parse } from './args.js';
import type { OptionSpec, Parsed } from './args.js';
import { echoServer, send } from './commands/peer.js';
import { fingerprintCommand, keygen, pubkey } from './commands/keys.js';
import { registry } from './commands/registry.js';
import { serve, tunnel } from './commands/forward.js';
import { agent, gateway } from './commands/agent.js';
import { HELP } from './help.js';
import { CONNECT_VERSION_OPTIONS, LISTEN_VERSION_OPTIONS } from './versions.js';
import type { Io } from './io.js';
import { Log } from './log.js';
import { packageVersion } from './version.js';
import { WORKER_OPTIONS, withWorkers } from './workers.js';

interface Command {
  options: OptionSpec;
  run(parsed: Parsed, io: Io): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  keygen: { options: { comment: { type: 'string' }, force: { type: 'boolean' } }, run: keygen },
  pubkey: { options: {}, run: pubkey },
  fingerprint: { options: {}, run: fingerprintCommand },
  registry: { options: { comment: { type: 'string' }, v1: { type: 'boolean' } }, run: registry },
  'echo-server': {
    options: { ...SERVICE_OPTIONS, listen: { type: 'string' }, 'any-client': { type: 'boolean' }, ...LISTEN_VERSION_OPTIONS, ...WORKER_OPTIONS },
    run: withWorkers('echo-server', echoServer),
  },
  send: {
    options: { 'server-key': { type: 'string' }, wait: { type: 'string' }, timeout: { type: 'string' }, 'log-format': { type: 'string' }, ...CONNECT_VERSION_OPTIONS },
    run: send,
  },
  serve: {
    options: {
      ...SERVICE_OPTIONS,
      listen: { type: 'string' },
      forward: { type: 'string' },
      'allow-forward': { type: 'string', multiple: true },
      'allow-from': { type: 'string', multiple: true },
      'proxy-protocol': { type: 'boolean' },
      'trusted-proxy': { type: 'string', multiple: true },
      instance: { type: 'string' },
      ...WORKER_OPTIONS,
      ...LISTEN_VERSION_OPTIONS,
    },
    run: withWorkers('serve', serve),
  },
  tunnel: {
    options: {
      ...SERVICE_OPTIONS,
      listen: { type: 'string' },
      to: { type: 'string' },
      'server-key': { type: 'string' },
      timeout: { type: 'string' },
      instance: { type: 'string' },
      ...CONNECT_VERSION_OPTIONS,
    },
    run: tunnel,
  },
  agent: {
    options: {
      ...SERVICE_OPTIONS,
      to: { type: 'string' },
      allow: { type: 'string', multiple: true },
      'server-key': { type: 'string' },
      timeout: { type: 'string' },
      'dial-timeout': { type: 'string' },
      ...CONNECT_VERSION_OPTIONS,
    },
    run: agent,
  },
  gateway: {
    options: {
      ...SERVICE_OPTIONS,
      listen: { type: 'string' },
      expose: { type: 'string', multiple: true },
      'open-timeout': { type: 'string' },
      ...LISTEN_VERSION_OPTIONS,
    },
    run: gateway,
  },
};
COMMANDS.cat = COMMANDS.send!;

/** Run the command line `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.out(`curvetun ${packageVersion()}`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name !== undefined) {
      io.out(HELP.main!);
      return 0;
    }
    io.err('usage: curvetun <command> [options] (run: curvetun --help)');
    return 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command "${name}" (run: curvetun --help)`);
    return 2;
  }
  let logsJson = false;
  try {
    const parsed = parse(rest, command.options);
    logsJson = parsed.values['log-format'] === 'json';
    if (parsed.values.help === true) {
      io.out(HELP[name]!);
      return 0;
    }
    return await command.run(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${name}: ${error.message} (run: curvetun ${name} --help)`);
      return 2;
    }
    // A service logging JSON reports its end as a JSON line too, so a log reader sees it.
    if (logsJson) {
      new Log(io.log, 'json', false).error('failed', { command: name, reason: describe(error) });
    } else {
      io.err(describe(error));
    }
    return 1;
  }
}

/** One line, no stack, no key bytes. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof CurvetunError || (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string')
    ? (error as { code: string }).code
    : '';
  const line = message.split('\n')[0] ?? 'failed';
  return code && !line.includes(code) ? `${line} (${code})` : line;
}
