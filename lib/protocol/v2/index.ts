/** curvetun protocol v2: its own magics, layouts, codecs and key schedule, beside v1's. Pure code, no I/O. */
export * from './constants.js';
export * from './layout.js';
export * from './packets.js';
export * from './boxes.js';
export * from './messages.js';
export * from './schedule.js';
