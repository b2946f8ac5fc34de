/**
 * Log lines of the long-running commands, one per event, on stderr:
 *
 *   text: 2026-12-01T10:00:00.123Z info closed peer=192.0.2.20:51234 key=SHA256:… up=310 down=52 duration_ms=1204 reason="…"
 *   json: {"time":"2026-12-01T10:00:00.123Z","level":"info","event":"closed","peer":"192.0.2.20:51234",…}
 *
 * Peers are named by address and key fingerprint: callers pass only strings and numbers, and
 * `keyField` turns a key into its fingerprint, so no key bytes can reach a log line.
 */
import { fingerprint } from '../../lib/keys/fingerprint.js';
import { UsageError } from './args.js';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Values that need no quoting in a text line. */
const BARE = /^[\w.:/@+\-[\]]+$/;

function textValue(value: string | number | boolean | null): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return BARE.test(value) ? value : JSON.stringify(value);
}

export class Log {
  constructor(
    private readonly write: (line: string) => void,
    readonly format: LogFormat,
    /** With `--verbose`: debug lines too. */
    readonly verbose: boolean,
    private readonly clock: () => Date = () => new Date(),
    /** Fields every line carries (e.g. `worker=2` in a worker of `--workers`). */
    private readonly base: LogFields = {},
  ) {}

  /** The same log, with `fields` on every line. */
  with(fields: LogFields): Log {
    return new Log(this.write, this.format, this.verbose, this.clock, { ...this.base, ...fields });
  }

  debug(event: string, fields: LogFields = {}): void {
    if (this.verbose) this.line('debug', event, fields);
  }

  info(event: string, fields: LogFields = {}): void {
    this.line('info', event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.line('warn', event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.line('error', event, fields);
  }

  private line(level: LogLevel, event: string, fields: LogFields): void {
    const time = this.clock().toISOString();
    const present = Object.entries({ ...fields, ...this.base }).filter((entry): entry is [string, string | number | boolean | null] => entry[1] !== undefined);
    if (this.format === 'json') {
      this.write(JSON.stringify({ time, level, event, ...Object.fromEntries(present) }));
      return;
    }
    // One line whatever a value holds: newlines and quotes come out escaped.
    const pairs = present.map(([name, value]) => ` ${name}=${textValue(value)}`).join('');
    this.write(`${time} ${level} ${event}${pairs}`);
  }
}

/** `--log-format` (default text). */
export function logFormatOption(value: unknown): LogFormat {
  if (value === undefined) return 'text';
  if (typeof value === 'string' && (LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got "${String(value)}"`);
}

/** The fields naming a key in a log line: its fingerprint only. */
export function keyField(key: Uint8Array | undefined): string | undefined {
  return key && key.length === 32 ? fingerprint(key) : undefined;
}
