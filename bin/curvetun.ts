#!/usr/bin/env node
/** The `curvetun` command line. See `curvetun --help` and docs/walkthrough.md. */
import { main } from './cli/main.js';
import { processIo } from './cli/io.js';

const stop = new AbortController();
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // The first signal stops cleanly; a second one does not wait.
    if (++signals > 1) process.exit(130);
    stop.abort();
  });
}

const code = await main(process.argv.slice(2), processIo(stop.signal));
process.exitCode = code;
// Workers and sockets are closed by now; anything left over must not keep the process alive.
setTimeout(() => process.exit(code), 1_000).unref();
