/**
 * The worker side of an actor: run `setup` once with the init data, then answer requests by
 * calling the named handler. A handler's typed error goes back as data; nothing it throws
 * kills the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CurvetunError } from '../errors.js';
import { errorToData } from './messages.js';
import type { Lifecycle, Reply, Request } from './messages.js';

export type Handler = (args: any) => unknown;
export type Handlers = Record<string, Handler>;

export function serveActor(setup: (init: any) => Handlers | Promise<Handlers>): void {
  const port = parentPort;
  if (!port) throw new CurvetunError('EACTOR', 'serveActor must run inside a worker thread');
  const name = (workerData as { name?: string } | undefined)?.name ?? 'actor';
  const init = (workerData as { init?: unknown } | undefined)?.init;

  Promise.resolve()
    .then(() => setup(init))
    .then(
      (handlers) => {
        port.on('message', (request: Request) => {
          const handler = Object.hasOwn(handlers, request.method) ? handlers[request.method] : undefined;
          const reply = (r: Reply) => port.postMessage(r);
          if (!handler) {
            reply({ id: request.id, ok: false, error: { code: 'EINVAL', message: `${name} has no method '${request.method}'` } });
            return;
          }
          Promise.resolve()
            .then(() => handler(request.args))
            .then(
              (value) => reply({ id: request.id, ok: true, value }),
              (error: unknown) => reply({ id: request.id, ok: false, error: errorToData(error, `${name}.${request.method}`) }),
            );
        });
        port.postMessage({ type: 'ready' } satisfies Lifecycle);
      },
      (error: unknown) => {
        port.postMessage({ type: 'init-error', error: errorToData(error, `${name} start-up`) } satisfies Lifecycle);
      },
    );
}
