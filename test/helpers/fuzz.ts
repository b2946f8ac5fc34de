/**
 * Live-server fuzzing: fast-check drives hostile peers against a real listener over loopback TCP,
 * one handshake state at a time, a few connections at once, while a well-behaved client keeps
 * talking to the same server. Used by test/hostile-fuzz.test.ts (bounded) and scripts/fuzz.ts (long).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseSecretKeyFile } from '../../lib/keys/keyfile.js';
import { getBackend } from '../../lib/crypto/index.js';
import { connect } from '../../lib/index.js';
import type { CurvetunSocket, Listener } from '../../lib/index.js';
import { CurvetunError } from '../../lib/errors.js';
import { MAGIC_COOKIE, MAGIC_HELLO, MAGIC_MESSAGE, MAGIC_VOUCH } from '../../lib/protocol/index.js';
import { keysEqual } from '../../lib/keys/text.js';
import { makeWorld } from './fixtures.js';
import type { World } from './fixtures.js';
import { rawConnect, rawHandshake, settlesWithin } from './raw.js';
import { MB, snapshot } from './resources.js';

export type FuzzState = 'hello' | 'vouch' | 'connected';

/** How to spoil the packet the server expects next. */
export type Recipe =
  | { op: 'flip'; at: number; xor: number }
  | { op: 'truncate'; keep: number }
  | { op: 'extend'; extra: Uint8Array }
  | { op: 'random'; payload: Uint8Array }
  | { op: 'magic'; magic: number; tail: Uint8Array }
  | { op: 'wrong'; which: 'hello' | 'cookie' | 'vouch' | 'message' }
  | { op: 'garbage'; raw: Uint8Array }
  | { op: 'badlen'; declared: number; body: Uint8Array };

export const recipeArb: fc.Arbitrary<Recipe> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(70_000), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), keep: fc.nat(70_000) }),
  fc.record({ op: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ op: fc.constant('random' as const), payload: fc.uint8Array({ maxLength: 400 }) }),
  fc.record({ op: fc.constant('magic' as const), magic: fc.integer({ min: 0, max: 3 }), tail: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ op: fc.constant('wrong' as const), which: fc.constantFrom('hello' as const, 'cookie' as const, 'vouch' as const, 'message' as const) }),
  fc.record({ op: fc.constant('garbage' as const), raw: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  fc.record({ op: fc.constant('badlen' as const), declared: fc.nat(0xffff), body: fc.uint8Array({ maxLength: 200 }) }),
);

/** A frame header in front of any payload, even the empty one the codec refuses to make. */
function rawFrame(payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(2 + payload.length);
  out.writeUInt16BE(payload.length);
  out.set(payload, 2);
  return out;
}

const MAGICS = [MAGIC_HELLO, MAGIC_COOKIE, MAGIC_VOUCH, MAGIC_MESSAGE];

/** Valid packets of every type, captured from a real exchange, to send where they do not belong. */
export interface Samples {
  hello: Uint8Array;
  cookie: Uint8Array;
  vouch: Uint8Array;
  message: Uint8Array;
}

/** The bytes to write for `recipe` given the packet the server expects; `whole` = complete frame(s). */
export function applyRecipe(recipe: Recipe, valid: Uint8Array, samples: Samples): { bytes: Uint8Array; whole: boolean } {
  const framed = (payload: Uint8Array) => ({ bytes: rawFrame(payload), whole: true });
  switch (recipe.op) {
    case 'flip': {
      const copy = new Uint8Array(valid);
      const at = recipe.at % copy.length;
      copy[at] = copy[at]! ^ recipe.xor;
      return framed(copy);
    }
    case 'truncate':
      return framed(valid.subarray(0, recipe.keep % valid.length));
    case 'extend':
      return framed(Buffer.concat([valid, recipe.extra]));
    case 'random':
      return framed(recipe.payload);
    case 'magic':
      return framed(Buffer.concat([MAGICS[recipe.magic]!, recipe.tail]));
    case 'wrong':
      // A valid packet of a type the server does not expect now (a Hello is only right first).
      return framed(samples[recipe.which === 'hello' && valid === samples.hello ? 'cookie' : recipe.which]);
    case 'garbage':
      return { bytes: recipe.raw, whole: false };
    case 'badlen': {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(recipe.declared);
      return { bytes: Buffer.concat([head, recipe.body]), whole: false };
    }
  }
}

export interface FuzzOptions {
  /** Hostile connections per state. */
  runs: Record<FuzzState, number>;
  /** Hostile connections at once. */
  parallel: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  cases: Record<FuzzState, number>;
  /** How each hostile connection ended on the server: error code → count. */
  serverCodes: Record<string, number>;
  /** Whole bad frames the server did not close within the grace period (must be 0). */
  leftOpen: number;
  /** Hostile connections that completed a handshake they should not have (must be 0). */
  wronglyAccepted: number;
  /** Messages the server delivered from hostile connections (must be 0). */
  wronglyDelivered: number;
  /** Non-CurvetunError failures seen anywhere on the server (must be 0). */
  untyped: number;
  /** Error messages that contained the server's secret or scramble key, as base64 or hex (must be 0). */
  secretLeaks: number;
  goodEchoes: number;
  heapBeforeMB: number;
  heapAfterMB: number;
  ms: number;
}

const GRACE_MS = 3_000;

export async function runLiveFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const backend = getBackend('auto');
  const world: World = await makeWorld();
  const goodVault = await world.newVault('good');
  const report: FuzzReport = {
    cases: { hello: 0, vouch: 0, connected: 0 },
    serverCodes: {},
    leftOpen: 0,
    wronglyAccepted: 0,
    wronglyDelivered: 0,
    untyped: 0,
    secretLeaks: 0,
    goodEchoes: 0,
    heapBeforeMB: 0,
    heapAfterMB: 0,
    ms: 0,
  };
  const keyFile = join(world.dir, 'server.key');
  const material = parseSecretKeyFile(readFileSync(keyFile, 'utf8'), keyFile);
  const secrets = [material.secretKey, material.scrambleKey].flatMap((k) => [Buffer.from(k).toString('base64'), Buffer.from(k).toString('hex')]);
  const count = (code: string, error: Error) => {
    report.serverCodes[code] = (report.serverCodes[code] ?? 0) + 1;
    const text = `${error.message} ${String(error.stack)}`;
    if (secrets.some((s) => text.includes(s))) report.secretLeaks++;
  };
  try {
    const listener: Listener = await world.listen({
      acceptAnyClient: true,
      handshakeTimeout: 5_000,
      maxPendingPerAddress: 10_000,
    });
    const port = listener.address().port;
    const serverKey = listener.publicKey;
    listener.on('handshakeError', (error) => {
      if (!(error instanceof CurvetunError)) report.untyped++;
      count(error.code, error);
    });
    // Every accepted connection echoes. Hostile ones (the fuzz client's key) must never deliver.
    const hostileClosed: Promise<void>[] = [];
    void (async () => {
      for await (const socket of listener) {
        const hostile = keysEqual(socket.peerKey, world.clientVault.publicKey);
        if (hostile) {
          hostileClosed.push(new Promise((resolve) => socket.once('close', () => resolve())));
          socket.on('message', () => report.wronglyDelivered++);
          socket.on('error', () => undefined);
          socket.once('close', (reason) => {
            if (!(reason instanceof CurvetunError)) report.untyped++;
            count(reason.code, reason);
          });
        } else {
          socket.on('message', (m) => void socket.send(m).catch(() => undefined));
          socket.on('error', () => undefined);
        }
      }
    })();

    // The well-behaved client: connected before the storm, used after every batch.
    const good: CurvetunSocket = await connect('127.0.0.1', port, { serverKey, vault: goodVault, registry: world.registry });
    let goodSeq = 0;
    const checkGood = async () => {
      const message = Buffer.from(`still here ${goodSeq++}`);
      await good.send(message);
      const echoed = await good.recv({ timeout: 5_000 });
      if (!Buffer.from(echoed).equals(message)) throw new Error('the good client got a wrong echo');
      report.goodEchoes++;
    };
    await checkGood();

    // Samples of every packet type from one real exchange.
    const sampleConn = await rawHandshake(port, { backend, vault: world.clientVault, serverKey, sendVouch: false });
    const messageFrame = sampleConn.session.seal(Buffer.from('sample'));
    const samples: Samples = {
      hello: sampleConn.hello,
      cookie: sampleConn.cookie,
      vouch: sampleConn.vouch,
      message: messageFrame.subarray(2),
    };
    sampleConn.tcp.destroy();
    await sampleConn.closed;

    const before = await snapshot();
    report.heapBeforeMB = before.heapUsed / MB;

    const hostileCase = async (state: FuzzState, recipe: Recipe) => {
      let conn;
      let valid: Uint8Array;
      if (state === 'hello') {
        conn = await rawConnect(port);
        valid = samples.hello;
      } else {
        const hs = await rawHandshake(port, { backend, vault: world.clientVault, serverKey, sendVouch: state === 'connected' });
        conn = hs;
        valid = state === 'vouch' ? hs.vouch : hs.session.seal(Buffer.from('valid message')).subarray(2);
      }
      const { bytes, whole } = applyRecipe(recipe, valid, samples);
      conn.tcp.write(bytes);
      if (!whole) conn.tcp.end();
      if (!(await settlesWithin(conn.closed, GRACE_MS))) {
        report.leftOpen++;
        log(`left open after ${state} ${recipe.op}`);
        conn.tcp.destroy();
        await conn.closed;
      }
      report.cases[state]++;
    };

    for (const state of ['hello', 'vouch', 'connected'] as const) {
      const numRuns = Math.ceil(options.runs[state] / options.parallel);
      const acceptedBefore = listener.stats.accepted;
      await fc.assert(
        fc.asyncProperty(fc.array(recipeArb, { minLength: options.parallel, maxLength: options.parallel }), async (recipes) => {
          await Promise.all(recipes.map((r) => hostileCase(state, r)));
          await checkGood();
        }),
        { numRuns, ...(options.seed !== undefined ? { seed: options.seed } : {}), endOnFailure: true },
      );
      const accepted = listener.stats.accepted - acceptedBefore;
      // Only the 'connected' state is meant to complete handshakes (one per case).
      report.wronglyAccepted += state === 'connected' ? Math.max(0, accepted - report.cases.connected) : accepted;
      log(`${state}: ${report.cases[state]} cases, ${Date.now() - started} ms so far`);
    }
    await Promise.all(hostileClosed);

    // After the storm: the good client still works and a fresh one can connect.
    await checkGood();
    const fresh = await connect('127.0.0.1', port, { serverKey, vault: goodVault, registry: world.registry });
    await fresh.send('fresh');
    const echoed = await fresh.recv({ timeout: 5_000 });
    if (Buffer.from(echoed).toString() !== 'fresh') throw new Error('a fresh client got a wrong echo');
    await fresh.close();
    await good.close();

    const after = await snapshot();
    report.heapAfterMB = after.heapUsed / MB;
  } finally {
    await world.dispose();
  }
  report.ms = Date.now() - started;
  return report;
}
