/** The curve_tun v1.0 wire format: pure code, no I/O. */
export * from './constants.js';
export * from './packets.js';
export * from './frame.js';
export * from './nonce.js';
export * from './tea.js';
export * from './layout.js';
export * from './boxes.js';
