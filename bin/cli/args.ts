/**
 * Command-line parsing shared by every subcommand: node:util's parseArgs in strict mode, a typed
 * usage error (exit 2), HOST:PORT and number parsing.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

/** Wrong usage: unknown option, missing argument, malformed value. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every subcommand accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  home: { type: 'string' },
  key: { type: 'string' },
  'known-hosts': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies OptionSpec;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parse `argv` against `options` (plus the common ones); unknown options are a UsageError. */
export function parse(argv: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: true });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    // parseArgs messages are one line and name the offending option.
    const line = (error as Error).message.split('\n')[0] ?? 'bad arguments';
    throw new UsageError(line.replace(/\. To specify a positional argument.*$/, ''));
  }
}

export interface HostPort {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[v6]:PORT` or a bare `PORT` (loopback). */
export function parseHostPort(text: string | undefined, what: string): HostPort {
  if (text === undefined || text === '') throw new UsageError(`${what} HOST:PORT is required`);
  let host = '127.0.0.1';
  let portText = text;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2]!;
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host.includes(':')) throw new UsageError(`${what}: write an IPv6 address as [addr]:port`);
  }
  if (host === '') throw new UsageError(`${what}: the host is empty in "${text}"`);
  return { host, port: parsePort(portText, what) };
}

function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) throw new UsageError(`${what}: "${text}" is not a port number (0-65535)`);
  return Number(text);
}

/** A positive integer option, or `fallback` when absent. */
export function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer`);
  }
  return n;
}

/** A whole number from 0 to `max`, or undefined when absent. */
export function boundedInt(value: unknown, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value) || n > max) throw new UsageError(`--${name} must be a whole number from 0 to ${max}`);
  return n;
}

/** A repeatable string option as a list. */
export function list(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/** Brackets IPv6 addresses so `host:port` stays readable. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A duration in seconds (`30`, `30s`, `1.5`) or milliseconds (`500ms`), as ms; `fallbackMs` when
 * absent. Zero is allowed (e.g. no drain at all).
 */
export function durationMs(value: unknown, name: string, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value) : null;
  if (!match) throw new UsageError(`--${name} must be a number of seconds (e.g. 30 or 30s) or milliseconds (e.g. 500ms)`);
  const amount = Number(match[1]);
  const ms = match[2] === 'ms' ? amount : amount * 1000;
  if (!Number.isSafeInteger(Math.round(ms)) || ms > 2 ** 31 - 1) throw new UsageError(`--${name} is too long`);
  return Math.round(ms);
}

/** Options of the long-running commands (serve, tunnel, echo-server). */
export const SERVICE_OPTIONS = {
  'log-format': { type: 'string' },
  'drain-timeout': { type: 'string' },
  metrics: { type: 'string' },
  'max-connections': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'ping-interval': { type: 'string' },
  keepalive: { type: 'string' },
} as const satisfies OptionSpec;

/** `--keepalive SECONDS|off`: TCP keepalive's idle time before the first probe, or none; absent: the library's default. */
export function keepAliveOption(value: unknown): false | { initialDelay: number } | undefined {
  if (value === undefined) return undefined;
  if (value === 'off') return false;
  const ms = durationMs(value, 'keepalive', 0);
  if (ms === 0) throw new UsageError('--keepalive takes a number of seconds above 0, or off');
  return { initialDelay: ms };
}
