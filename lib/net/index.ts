export { AddressFilter } from './filter.js';
export { parsePattern, matchesAddress, matchesName, normalizeName, canonicalAddress } from './patterns.js';
export type { Pattern } from './patterns.js';
export { coversPeer, needsResolver } from './peer.js';
export { addressesOf, namesOf, resolvesTo, RESOLVE_TIMEOUT_MS } from './resolve.js';
export { resolveOnce, resolveAllowed, dialInOrder } from './dial.js';
export type { DialTarget, Dialling, LookupFunction } from './dial.js';
