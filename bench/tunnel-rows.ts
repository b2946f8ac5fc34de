/**
 * The ways between redis-benchmark and redis-server that `npm run bench:tunnel` compares: each
 * row starts its own processes (with keys, registries and certificates made for the run) in
 * front of redis on 127.0.0.1, and says which port redis-benchmark should use.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCertificate } from './certificate.js';
import { freePorts, startListening, startReady } from './daemon.js';
import type { Daemon } from './daemon.js';

/** What stands in front of redis for one row, and the port to send the load to. */
export interface Front {
  port: number;
  /** The processes it started (for strace, perf or a profiler), in start order. */
  pids: number[];
  stop(): Promise<void>;
}

export interface TunnelRow {
  name: string;
  label: string;
  /** Programs it needs on PATH besides redis-server and redis-benchmark. */
  tools: string[];
  /** `tools` maps each of them to its path; `dir` is this row's own scratch directory. */
  start(redisPort: number, dir: string, tools: Record<string, string>): Promise<Front>;
}

/**
 * Start the row's daemons in order (the one facing redis first); if one fails, stop those already
 * running. The front stops them in reverse, so nothing new reaches the one behind.
 */
async function chain(port: number, starts: (() => Promise<Daemon>)[]): Promise<Front> {
  const running: Daemon[] = [];
  const stop = async () => {
    for (const daemon of [...running].reverse()) await daemon.stop();
  };
  try {
    for (const start of starts) running.push(await start());
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, pids: running.map((d) => d.child.pid!), stop };
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The real `curvetun` command, as test/cli-process.ts runs it (no build needed). */
const CURVETUN = ['--import', 'tsx', join(ROOT, 'bin', 'curvetun.ts')];
/** BENCH_PROFILE=<dir>: `serve` and `tunnel` write V8 CPU profiles there when they stop. */
const PROFILE = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];

function curvetun(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...CURVETUN, ...args], { cwd: ROOT, timeout: 60_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`curvetun ${args[0]}: ${stderr.trim() || error.message}`)) : resolve(),
    );
  });
}

/** Start `curvetun serve|tunnel` and wait for the line that says it listens. */
function curvetunDaemon(args: string[]): Promise<Daemon> {
  const listening = (daemon: Daemon) => /\blistening address=\S+:\d+/.test(daemon.output());
  return startReady(`curvetun ${args[0]}`, process.execPath, [...PROFILE, ...CURVETUN, ...args], listening, { cwd: ROOT, signal: 'SIGINT' });
}

const direct: TunnelRow = {
  name: 'direct',
  label: 'redis-server directly',
  tools: [],
  start: async (redisPort) => ({ port: redisPort, pids: [], stop: async () => undefined }),
};

/** `curvetun tunnel` → `curvetun serve` → redis, each end with its own key home and registry. */
const curvetunRow: TunnelRow = {
  name: 'curvetun',
  label: 'curvetun tunnel → serve',
  tools: [],
  async start(redisPort, dir) {
    const server = join(dir, 'server');
    const client = join(dir, 'client');
    await Promise.all([curvetun(['keygen', '--home', server]), curvetun(['keygen', '--home', client])]);
    await Promise.all([
      curvetun(['registry', 'add', '127.0.0.1', join(client, 'id_curvetun.pub'), '--home', server]),
      curvetun(['registry', 'add', '127.0.0.1', join(server, 'id_curvetun.pub'), '--home', client]),
    ]);
    const [servePort, tunnelPort] = (await freePorts(2)) as [number, number];
    return chain(tunnelPort, [
      () => curvetunDaemon(['serve', '--listen', `127.0.0.1:${servePort}`, '--forward', `127.0.0.1:${redisPort}`, '--home', server]),
      () => curvetunDaemon(['tunnel', '--listen', `127.0.0.1:${tunnelPort}`, '--to', `127.0.0.1:${servePort}`, '--home', client]),
    ]);
  },
};

/** `spiped -e` → `spiped -d` → redis, one shared 256-bit key file, default options. */
const spiped: TunnelRow = {
  name: 'spiped',
  label: 'spiped -e → spiped -d',
  tools: ['spiped'],
  async start(redisPort, dir, tools) {
    const key = join(dir, 'spiped.key');
    writeFileSync(key, randomBytes(32), { mode: 0o600 });
    const [serverPort, clientPort] = (await freePorts(2)) as [number, number];
    const common = ['-F', '-k', key];
    return chain(clientPort, [
      () => startListening('spiped -d', tools.spiped!, ['-d', '-s', `[127.0.0.1]:${serverPort}`, '-t', `[127.0.0.1]:${redisPort}`, '-p', join(dir, 'd.pid'), ...common], serverPort),
      () => startListening('spiped -e', tools.spiped!, ['-e', '-s', `[127.0.0.1]:${clientPort}`, '-t', `[127.0.0.1]:${serverPort}`, '-p', join(dir, 'e.pid'), ...common], clientPort),
    ]);
  },
};

/** stunnel client → stunnel server → redis: TLS with a self-signed certificate that the client pins. */
const stunnel: TunnelRow = {
  name: 'stunnel',
  label: 'stunnel client → server',
  tools: ['stunnel', 'openssl'],
  async start(redisPort, dir, tools) {
    const { key, cert } = makeCertificate();
    writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
    writeFileSync(join(dir, 'cert.pem'), cert);
    const [serverPort, clientPort] = (await freePorts(2)) as [number, number];
    const config = (name: string, lines: string[]) => {
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, ['foreground = yes', 'pid =', 'debug = warning', '[redis]', ...lines, ''].join('\n'));
      return file;
    };
    const serverConf = config('server', [`accept = 127.0.0.1:${serverPort}`, `connect = 127.0.0.1:${redisPort}`, `cert = ${join(dir, 'cert.pem')}`, `key = ${join(dir, 'key.pem')}`]);
    const clientConf = config('client', ['client = yes', `accept = 127.0.0.1:${clientPort}`, `connect = 127.0.0.1:${serverPort}`, 'verifyPeer = yes', `CAfile = ${join(dir, 'cert.pem')}`]);
    return chain(clientPort, [
      () => startListening('stunnel server', tools.stunnel!, [serverConf], serverPort),
      () => startListening('stunnel client', tools.stunnel!, [clientConf], clientPort),
    ]);
  },
};

/**
 * Every row, in table order. Issue 18's agent mode gets its row here ("through the agent": redis
 * behind `curvetun agent`, the load sent to the gateway's exposed port), started like curvetunRow.
 */
export const ROWS: TunnelRow[] = [direct, curvetunRow, spiped, stunnel];

/** A fresh scratch directory for one row. */
export function rowDir(base: string, row: TunnelRow): string {
  const dir = join(base, row.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
