/**
 * An echo server: every message a client sends comes back to it.
 *
 *   tsx examples/echo-server.ts [--port 7000] [--home DIR] [--any]
 *
 * Its key pair and known_hosts live in --home (default $CURVETUN_HOME or ~/.curvetun). Only client
 * keys listed in known_hosts may connect, unless --any is given. It prints one line
 * `listening <host>:<port> <server public key>` when ready, then one line per event.
 */
import { parseArgs } from 'node:util';
import { Home, encodePublicKeyText, listen } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '7000' },
    host: { type: 'string', default: '127.0.0.1' },
    home: { type: 'string' },
    any: { type: 'boolean', default: false },
  },
});

const home = new Home(values.home ? { home: values.home } : {});
const listener = await listen(Number(values.port), {
  host: values.host,
  vault: await home.vault(),
  registry: await home.registry(),
  acceptAnyClient: values.any,
});
const { address, port } = listener.address();
console.log(`listening ${address}:${port} ${encodePublicKeyText(listener.publicKey)}`);

listener.on('handshakeError', (error, from) => console.log(`refused ${from}: ${error.code} ${error.message}`));

const shutdown = async () => {
  await listener.close();
  await home.stop();
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);

for await (const socket of listener) {
  const who = `${socket.remoteAddress}:${socket.remotePort} key ${encodePublicKeyText(socket.peerKey)}`;
  console.log(`connected ${who}`);
  void (async () => {
    let count = 0;
    try {
      for await (const message of socket) {
        await socket.send(message);
        count++;
      }
      console.log(`closed ${who} after ${count} messages`);
    } catch (error) {
      console.log(`failed ${who}: ${(error as Error).message}`);
    }
  })();
}
