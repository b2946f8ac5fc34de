/**
 * The owner's side of an actor: a supervised worker thread answering typed requests.
 *
 * - Each call carries an id and a deadline; the reply (or the typed error) settles it.
 * - A worker that dies (crash, `kill()`) fails the calls in flight with `EACTOR` and is restarted
 *   with exponential backoff; too many restarts within the window and the supervisor gives up:
 *   every later call fails with `EACTOR` saying so.
 * - The worker is unref'd while idle, so a finished program exits, and ref'd while calls are in
 *   flight, so nobody awaiting a reply is left hanging by an exiting process.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_RESTART_BACKOFF_MS,
  DEFAULT_RESTART_MAX_BACKOFF_MS,
  DEFAULT_RESTART_WINDOW_MS,
} from '../limits.js';
import { LANE_BYTES, LaneClient } from './lane.js';
import type { LaneMethods, LaneReply } from './lane.js';
import { errorFromData } from './messages.js';
import type { Lifecycle, Notice, Reply } from './messages.js';
import { INSPECT, describe } from '../inspect.js';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs` before the supervisor gives up. */
  maxRestarts: number;
  windowMs: number;
  /** First restart delay; doubles with each restart in the window, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = {
  maxRestarts: DEFAULT_MAX_RESTARTS,
  windowMs: DEFAULT_RESTART_WINDOW_MS,
  backoffMs: DEFAULT_RESTART_BACKOFF_MS,
  maxBackoffMs: DEFAULT_RESTART_MAX_BACKOFF_MS,
};

export interface ActorSpec {
  name: string;
  /** The worker module, e.g. `new URL('./vault-worker.js', import.meta.url)`; its `.ts` sibling is used when running from source. */
  script: URL;
  /** Structured-cloneable data handed to the worker's setup. */
  init?: unknown;
  /** Default deadline of a call, in ms (default 10 000). */
  callTimeoutMs?: number;
  restart?: Partial<RestartPolicy>;
  /**
   * Methods answered through shared memory instead of postMessage (see lane.ts): the few small
   * calls on the hot path. Calls with their own timeout or transfer list, and values that do not
   * fit the lane, still go by postMessage.
   */
  lane?: LaneMethods;
}

export interface CallOptions {
  timeoutMs?: number;
  transfer?: TransferListItem[];
}

export interface ActorRef {
  readonly name: string;
  call<R = unknown>(method: string, args?: unknown, options?: CallOptions): Promise<R>;
  /** Terminate the worker abruptly, as a crash: the supervisor restarts it. */
  kill(): Promise<void>;
  /** Shut down for good; later calls fail with `ECLOSED`. */
  stop(): Promise<void>;
  /** `'notice'` (event, data): what the worker's setup sent with `context.notify`. */
  on(event: 'restart' | 'give-up' | 'exit' | 'notice', listener: (...args: any[]) => void): this;
  off(event: 'restart' | 'give-up' | 'exit' | 'notice', listener: (...args: any[]) => void): this;
  /** How many times the supervisor restarted the worker (for monitoring). */
  readonly restarts: number;
  /** Calls sent so far through the shared-memory lane and through postMessage (for monitoring). */
  readonly calls: { readonly lane: number; readonly port: number };
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: CurvetunError): void;
  timer: NodeJS.Timeout;
  /** Posted to a worker: it fails if that worker dies. Unsent calls wait for the next worker. */
  sent: boolean;
}

interface Outgoing {
  id: number;
  method: string;
  args: unknown;
  transfer: TransferListItem[] | undefined;
}

/**
 * How to start the worker: the `.js` file when built; from source, the `.ts` sibling behind a
 * two-line bootstrap that registers tsx inside the worker (Node 20 does not carry the parent's
 * loader hooks into a worker's entry point).
 */
function workerEntry(script: URL): { entry: string | URL; eval: boolean } {
  const path = fileURLToPath(script);
  if (existsSync(path)) return { entry: script, eval: false };
  const ts = path.replace(/\.js$/, '.ts');
  if (!existsSync(ts)) throw new CurvetunError('EACTOR', `worker script not found: ${path}`);
  let tsx: string;
  try {
    tsx = import.meta.resolve('tsx/esm/api');
  } catch {
    throw new CurvetunError('EACTOR', `${path} is missing; running from TypeScript sources needs tsx installed (or build with tsc)`);
  }
  const code =
    `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(pathToFileURL(ts).href)}); })` +
    `.catch((error) => { throw error; });`;
  return { entry: code, eval: true };
}

class SupervisedActor extends EventEmitter implements ActorRef {
  readonly name: string;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Calls waiting for a worker that is ready (the first start or a restart). */
  private queue: Outgoing[] = [];
  private nextId = 1;
  private restartTimes: number[] = [];
  /** Restarts so far (all time): the worker's setup learns it, e.g. to create files only on the first start. */
  private restartCount = 0;
  /** Why the last start failed, so that giving up can say why (e.g. the key file is gone). */
  private lastStartError: CurvetunError | null = null;
  private everReady = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private state: 'starting' | 'ready' | 'restarting' | 'stopped' | 'gave-up' = 'starting';
  /** The shared-memory lane to the current worker, once it is ready (a new one per worker). */
  private lane: LaneClient | null = null;
  readonly calls = { lane: 0, port: 0 };
  private readonly policy: RestartPolicy;
  private readonly callTimeoutMs: number;
  private readonly script: { entry: string | URL; eval: boolean };

  constructor(private readonly spec: ActorSpec) {
    super();
    this.name = spec.name;
    this.policy = { ...DEFAULT_RESTART, ...spec.restart };
    this.callTimeoutMs = spec.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.script = workerEntry(spec.script);
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** No fields: the lane's shared memory carries requests and replies (some hold secrets). */
  [INSPECT](): string {
    return describe('ActorRef', { name: this.name, state: this.state, pending: this.pending.size, laneCalls: this.calls.lane, portCalls: this.calls.port });
  }

  /** Start (or restart) the worker; resolves when its setup is done, rejects if it fails. */
  spawn(): Promise<void> {
    this.state = 'starting';
    const laneBuffer = this.spec.lane ? new SharedArrayBuffer(LANE_BYTES) : null;
    const worker = new Worker(this.script.entry, {
      eval: this.script.eval,
      workerData: {
        name: this.name,
        init: this.spec.init,
        restarts: this.restartCount,
        ...(laneBuffer ? { lane: { buffer: laneBuffer, methods: this.spec.lane } } : {}),
      },
    });
    this.worker = worker;
    // The first start is awaited (startActor), so it keeps the process alive; a restart only
    // while calls are waiting for it.
    this.refresh();
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: Lifecycle | Notice | Reply) => {
        if (!('type' in msg)) return this.settle(msg);
        if (msg.type === 'notice') {
          this.emit('notice', msg.event, msg.data);
        } else if (msg.type === 'ready') {
          this.lastStartError = null;
          this.everReady = true;
          this.state = 'ready';
          if (laneBuffer) this.lane = new LaneClient(laneBuffer, this.spec.lane!, (id, reply) => this.settleLane(id, reply));
          this.flush();
          this.refresh();
          resolve();
        } else {
          this.lastStartError = errorFromData(msg.error);
          reject(this.lastStartError);
          void worker.terminate(); // its exit is handled like a crash
        }
      });
      // An uncaught exception in the worker: its 'exit' follows, where the crash is handled.
      worker.on('error', () => undefined);
      worker.once('exit', (code) => {
        reject(this.lastStartError ?? new CurvetunError('EACTOR', `${this.name} worker exited during start-up (exit code ${code})`));
        this.onExit(worker, code);
      });
    });
  }

  call<R>(method: string, args?: unknown, options: CallOptions = {}): Promise<R> {
    if (this.state === 'stopped') return Promise.reject(new CurvetunError('ECLOSED', `${this.name} is stopped`));
    if (this.state === 'gave-up') return Promise.reject(this.gaveUpError());
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      // The deadline covers waiting for a restart too. Its timer is ref'd: an awaited call keeps
      // the process alive until it settles, even while no worker exists.
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          this.refresh();
          reject(new CurvetunError('ETIMEDOUT', `${this.name}.${method} did not answer within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      const pending: Pending = { resolve: resolve as (v: unknown) => void, reject, timer, sent: false };
      this.pending.set(id, pending);
      if (this.lane && options.timeoutMs === undefined && options.transfer === undefined && this.lane.post(id, method, args)) {
        pending.sent = true;
        this.calls.lane++;
      } else {
        this.calls.port++;
        this.queue.push({ id, method, args, transfer: options.transfer });
        if (this.state === 'ready') this.flush();
      }
      this.refresh();
    });
  }

  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.dropLane();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.failAll(new CurvetunError('ECLOSED', `${this.name} was stopped`));
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  /** Post every queued call that is still awaited to the ready worker, in order. */
  private flush(): void {
    const worker = this.worker;
    if (!worker) return;
    let posted = false;
    for (const out of this.queue.splice(0)) {
      const p = this.pending.get(out.id);
      if (!p) continue; // timed out while waiting
      p.sent = true;
      worker.postMessage({ id: out.id, method: out.method, args: out.args }, out.transfer);
      posted = true;
    }
    // A worker waiting on its lane sleeps in Atomics.wait: wake it to read its mail.
    if (posted) this.lane?.ringForMail();
  }

  private settleLane(id: number, reply: LaneReply): void {
    if (reply.ok) this.settle({ id, ok: true, value: reply.value });
    else this.settleWith(id, (p) => p.reject(reply.error));
  }

  private dropLane(): void {
    this.lane?.close();
    this.lane = null;
  }

  private settle(reply: Reply): void {
    this.settleWith(reply.id, (p) => (reply.ok ? p.resolve(reply.value) : p.reject(errorFromData(reply.error))));
  }

  private settleWith(id: number, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return; // timed out, or failed when its worker died
    this.pending.delete(id);
    clearTimeout(p.timer);
    this.refresh();
    how(p);
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker) return;
    this.worker = null;
    this.dropLane();
    if (this.state === 'stopped') return;
    // Calls this worker had received may or may not have run: they fail. Queued ones wait.
    this.failWhere((p) => p.sent, new CurvetunError('EACTOR', `${this.name} worker died (exit code ${code}); the call did not complete`));
    this.emit('exit', code);
    if (!this.everReady) return; // the first start failed: startActor reports it, nothing to restart
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.policy.windowMs);
    if (this.restartTimes.length >= this.policy.maxRestarts) {
      this.state = 'gave-up';
      this.failAll(this.gaveUpError());
      this.emit('give-up', this.restartTimes.length);
      return;
    }
    const delay = Math.min(this.policy.maxBackoffMs, this.policy.backoffMs * 2 ** this.restartTimes.length);
    this.restartTimes.push(now);
    this.restartCount++;
    this.state = 'restarting';
    // Unref'd: an idle program need not wait for a restart; awaited calls keep it alive anyway.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state !== 'restarting') return;
      this.spawn().then(
        () => this.emit('restart', this.restartCount),
        () => undefined, // its exit is handled like any other crash
      );
    }, delay).unref();
  }

  private failWhere(which: (p: Pending) => boolean, error: CurvetunError): void {
    for (const [id, p] of this.pending) {
      if (!which(p)) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.refresh();
  }

  private failAll(error: CurvetunError): void {
    this.queue = [];
    this.failWhere(() => true, error);
  }

  /** Keep the process alive only while somebody awaits a reply. */
  private refresh(): void {
    if (!this.worker || !this.everReady) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private gaveUpError(): CurvetunError {
    const why = this.lastStartError ? `; its last start failed: ${this.lastStartError.message} (${this.lastStartError.code})` : '';
    return new CurvetunError('EACTOR', `${this.name} crashed ${this.policy.maxRestarts} times within ${this.policy.windowMs} ms; the supervisor gave up${why}`);
  }
}

/** Start a supervised actor; resolves once its worker has finished setting up. */
export async function startActor(spec: ActorSpec): Promise<ActorRef> {
  const actor = new SupervisedActor(spec);
  try {
    await actor.spawn();
  } catch (error) {
    await actor.stop();
    throw error;
  }
  return actor;
}
