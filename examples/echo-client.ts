/**
 * An echo client: connects, sends a few messages, checks each echo and prints round-trip times.
 *
 *   tsx examples/echo-client.ts --server-key BASE64 [--host 127.0.0.1] [--port 7000] [--count 5] [--home DIR]
 *
 * Without --server-key, the key is looked up in the registry (known_hosts) by host.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Home, connect, encodePublicKeyText } from '../lib/index.js';

export async function runEchoClient(options: {
  host: string;
  port: number;
  serverKey?: string;
  count: number;
  home: Home;
  log?: (line: string) => void;
}): Promise<void> {
  const log = options.log ?? console.log;
  const started = performance.now();
  const socket = await connect(options.host, options.port, {
    vault: await options.home.vault(),
    registry: await options.home.registry(),
    ...(options.serverKey ? { serverKey: options.serverKey } : {}),
    timeout: 5000,
  });
  log(`handshake with ${options.host}:${options.port} done in ${(performance.now() - started).toFixed(1)} ms; server key ${encodePublicKeyText(socket.peerKey)}`);
  for (let i = 1; i <= options.count; i++) {
    const text = `message ${i} of ${options.count}`;
    const sentAt = performance.now();
    await socket.send(text);
    const reply = Buffer.from(await socket.recv({ timeout: 5000 })).toString();
    if (reply !== text) throw new Error(`echo mismatch: sent "${text}", got "${reply}"`);
    log(`echoed "${reply}" in ${((performance.now() - sentAt) * 1000).toFixed(0)} µs`);
  }
  await socket.close();
  log('closed');
}

// Run as a program (not when imported by the demo).
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7000' },
      'server-key': { type: 'string' },
      count: { type: 'string', default: '5' },
      home: { type: 'string' },
    },
  });
  const home = new Home(values.home ? { home: values.home } : {});
  try {
    await runEchoClient({
      host: values.host,
      port: Number(values.port),
      ...(values['server-key'] ? { serverKey: values['server-key'] } : {}),
      count: Number(values.count),
      home,
    });
  } catch (error) {
    console.error(`echo-client: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    await home.stop();
  }
}
