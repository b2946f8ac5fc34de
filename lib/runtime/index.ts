/** Actors on worker_threads: supervised workers answering typed requests. */
export { startActor, DEFAULT_RESTART } from './actor.js';
export type { ActorRef, ActorSpec, CallOptions, RestartPolicy } from './actor.js';
export type { Handlers, ServeContext } from './serve.js';
