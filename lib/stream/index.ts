export { MessageStream, messageStream } from './duplex.js';
export type { MessageSocket, MessageStreamOptions } from './duplex.js';
export { cutIntoMessages } from './cut.js';
export { forward, forwardHalfClose } from './forward.js';
export type { ForwardStats } from './forward.js';
