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
import { errorFromData } from './messages.js';
import type { Lifecycle, Reply } from './messages.js';

export interface RestartPolicy {
  /** Restarts allowed within `windowMs` before the supervisor gives up. */
  maxRestarts: number;
  windowMs: number;
  /** First restart delay; doubles with each restart in the window, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { maxRestarts: 5, windowMs: 10_000, backoffMs: 20, maxBackoffMs: 2_000 };

export interface ActorSpec {
  name: string;
  /** The worker module, e.g. `new URL('./vault-worker.js', import.meta.url)`; its `.ts` sibling is used when running from source. */
  script: URL;
  /** Structured-cloneable data handed to the worker's setup. */
  init?: unknown;
  /** Default deadline of a call, in ms (default 10 000). */
  callTimeoutMs?: number;
  restart?: Partial<RestartPolicy>;
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
  on(event: 'restart' | 'give-up' | 'exit', listener: (...args: any[]) => void): this;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: CurvetunError): void;
  timer: NodeJS.Timeout;
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
  const tsx = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(pathToFileURL(ts).href)}); })` +
    `.catch((error) => { throw error; });`;
  return { entry: code, eval: true };
}

class SupervisedActor extends EventEmitter implements ActorRef {
  readonly name: string;
  private worker: Worker | null = null;
  private readyPromise: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  /** Sends of calls made while the worker was restarting. */
  private queued: (() => void)[] = [];
  private nextId = 1;
  private restartTimes: number[] = [];
  private state: 'running' | 'restarting' | 'stopped' | 'gave-up' = 'running';
  private readonly policy: RestartPolicy;
  private readonly callTimeoutMs: number;
  private readonly script: { entry: string | URL; eval: boolean };

  constructor(private readonly spec: ActorSpec) {
    super();
    this.name = spec.name;
    this.policy = { ...DEFAULT_RESTART, ...spec.restart };
    this.callTimeoutMs = spec.callTimeoutMs ?? 10_000;
    this.script = workerEntry(spec.script);
  }

  /** Start (or restart) the worker; resolves when its setup is done. */
  spawn(): Promise<void> {
    const worker = new Worker(this.script.entry, {
      eval: this.script.eval,
      workerData: { name: this.name, init: this.spec.init },
    });
    this.worker = worker;
    // Referenced while starting (someone awaits the start), then only while calls are pending.
    this.readyPromise = null;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      const onLifecycle = (msg: Lifecycle | Reply) => {
        if ('type' in msg) {
          if (msg.type === 'ready') {
            resolve();
            this.refresh();
          } else reject(errorFromData(msg.error));
          return;
        }
        this.settle(msg);
      };
      worker.on('message', onLifecycle);
      // An uncaught exception in the worker: its 'exit' follows, where the crash is handled.
      worker.on('error', () => undefined);
      worker.once('exit', (code) => {
        reject(new CurvetunError('EACTOR', `${this.name} worker exited during start-up`));
        this.onExit(worker, code);
      });
    });
    this.readyPromise.catch(() => undefined);
    return this.readyPromise;
  }

  async call<R>(method: string, args?: unknown, options: CallOptions = {}): Promise<R> {
    if (this.state === 'stopped') throw new CurvetunError('ECLOSED', `${this.name} is stopped`);
    if (this.state === 'gave-up') throw this.gaveUpError();
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          this.refresh();
          reject(new CurvetunError('ETIMEDOUT', `${this.name}.${method} did not answer within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.refresh();
      // During a restart, wait for the new worker (bounded by the call's own deadline).
      const send = () => {
        if (!this.pending.has(id)) return;
        this.worker?.postMessage({ id, method, args }, options.transfer);
      };
      if (this.state === 'running' && this.readyPromise) this.readyPromise.then(send, () => undefined);
      else this.queued.push(send); // restarting: sent once the new worker is ready
    });
  }

  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.queued = [];
    this.failAll(new CurvetunError('ECLOSED', `${this.name} was stopped`));
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private settle(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    clearTimeout(p.timer);
    this.refresh();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(errorFromData(reply.error));
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker) return;
    this.worker = null;
    this.readyPromise = null;
    if (this.state === 'stopped') return;
    this.failAll(new CurvetunError('EACTOR', `${this.name} worker died (exit code ${code}); the call did not complete`));
    this.emit('exit', code);
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.policy.windowMs);
    if (this.restartTimes.length >= this.policy.maxRestarts) {
      this.state = 'gave-up';
      this.queued = [];
      this.failAll(this.gaveUpError());
      this.emit('give-up', this.restartTimes.length);
      return;
    }
    const delay = Math.min(this.policy.maxBackoffMs, this.policy.backoffMs * 2 ** this.restartTimes.length);
    this.restartTimes.push(now);
    this.state = 'restarting';
    setTimeout(() => {
      if (this.state !== 'restarting') return;
      this.state = 'running';
      this.spawn().then(
        () => {
          for (const send of this.queued.splice(0)) send();
          this.emit('restart', this.restartTimes.length);
        },
        () => undefined, // its exit is handled like any other crash
      );
    }, delay).unref();
  }

  private failAll(error: CurvetunError): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.refresh();
  }

  /** Keep the process alive only while somebody awaits a reply. */
  private refresh(): void {
    if (!this.worker) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private gaveUpError(): CurvetunError {
    return new CurvetunError('EACTOR', `${this.name} crashed ${this.policy.maxRestarts} times within ${this.policy.windowMs} ms; the supervisor gave up`);
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
