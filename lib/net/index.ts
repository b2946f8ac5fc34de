export { AddressFilter } from './filter.js';
export { parsePattern, matchesAddress, matchesName, normalizeName, unmapAddress, specificity } from './patterns.js';
export type { Pattern } from './patterns.js';
export { addressesOf, namesOf } from './resolve.js';
