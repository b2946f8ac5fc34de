export { openRegistry, WorkerRegistry } from './registry.js';
export type { OpenRegistryOptions, TofuInfo, TofuOptions, WorkerRegistryEvents } from './registry.js';
export { parseRegistry, parseRegistryLine, formatRegistryLine, RegistryFileError } from './file.js';
export type { ParsedEntry } from './file.js';
export type { Registry, RegistryEntry, Verdict } from './types.js';
export type { RegistryStatus, RegistryProblem } from './registry-worker.js';
