#!/usr/bin/env node
/** The `curvetun` command line. See `curvetun --help` and docs/walkthrough.md. */

// First of all, before the rest loads: Node opens its inspector (a debugger anyone who may signal
// this process can attach to) on SIGUSR1 unless a listener is installed. This process will hold a
// vault, so the signal is ignored here (cli/signals.ts logs it once a service runs).
process.on('SIGUSR1', () => undefined);

const [{ main }, { processIo }, { processSignals }] = await Promise.all([
  import('./cli/main.js'),
  import('./cli/io.js'),
  import('./cli/signals.js'),
]);
const code = await main(process.argv.slice(2), processIo(processSignals()));
process.exitCode = code;
// Workers and sockets are closed by now; anything left over must not keep the process alive.
setTimeout(() => process.exit(code), 1_000).unref();
