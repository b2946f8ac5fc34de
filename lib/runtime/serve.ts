/**
 * The worker side of an actor: run `setup` once with the init data, then answer requests by
 * calling the named handler. A handler's typed error goes back as data; nothing it throws
 * kills the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';
import { serveLane } from './lane.js';
import type { LaneMethods } from './lane.js';
import { errorToData } from './messages.js';
import { keepAwake } from './awake.js';
import type { Lifecycle, Notice, Reply, Request } from './messages.js';

export type Handler = (args: any) => unknown;
export type Handlers = Record<string, Handler>;

/** What the worker's setup learns besides its init data. */
export interface ServeContext {
  name: string;
  /** 0 on the first start, then how many times the supervisor restarted this actor. */
  restarts: number;
  /** Tell the owner something it did not ask for; its `ActorRef` emits `'notice'` (event, data). */
  notify(event: string, data?: unknown): void;
}

/**
 * Make this worker an actor: run `setup(init, context)` once, then answer each request with the
 * handler named by its method. Call it once, at the top level of the worker module.
 */
export function serveActor(setup: (init: any, context: ServeContext) => Handlers | Promise<Handlers>): void {
  const port = parentPort;
  if (!port) throw new CurvetunError('EACTOR', 'serveActor must run inside a worker thread');
  const data = (workerData ?? {}) as { name?: string; init?: unknown; restarts?: number; lane?: { buffer: SharedArrayBuffer; methods: LaneMethods } };
  const name = data.name ?? 'actor';
  const context: ServeContext = {
    name,
    restarts: data.restarts ?? 0,
    notify: (event, value) => port.postMessage({ type: 'notice', event, data: value } satisfies Notice),
  };

  Promise.resolve()
    .then(() => setup(data.init, context))
    .then(
      (handlers) => {
        port.on('message', (request: Request) => {
          const handler = Object.hasOwn(handlers, request.method) ? handlers[request.method] : undefined;
          const reply = (r: Reply) => port.postMessage(r);
          if (!handler) {
            reply({ id: request.id, ok: false, error: { code: 'EINVAL', message: `${name} has no method '${request.method}'` } });
            return;
          }
          keepAwake(Promise.resolve().then(() => handler(request.args)))
            .then(
              (value) => {
                try {
                  reply({ id: request.id, ok: true, value });
                } catch {
                  // e.g. a function in the result: a handler bug, reported to the caller, not a crash
                  reply({ id: request.id, ok: false, error: { code: 'EACTOR', message: `${name}.${request.method} returned a value that cannot cross threads` } });
                }
              },
              (error: unknown) => reply({ id: request.id, ok: false, error: errorToData(error, `${name}.${request.method}`) }),
            );
        });
        // The owner may send the lane's methods this way too; both ways reach the same handlers.
        if (data.lane) serveLane(data.lane.buffer, data.lane.methods, handlers, name);
        port.postMessage({ type: 'ready' } satisfies Lifecycle);
      },
      (error: unknown) => {
        port.postMessage({ type: 'init-error', error: errorToData(error, `${name} start-up`) } satisfies Lifecycle);
      },
    );
}
