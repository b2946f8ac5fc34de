/**
 * The text of a plain-node program that runs one real loopback handshake through curvetun as
 * loaded by `load` (an import line, or a require for CommonJS), prints the message the server
 * received and whether the server saw the client's key, and exits by itself: its workers are
 * never stopped, so they must not keep it alive. Its first argument is a directory for key files.
 */
export function handshakeScript(load: string, message: string): string {
  return `${load}
const dir = process.argv[2];
const server = await WorkerVault.open({ secretKeyFile: dir + '/server', create: true });
const client = await WorkerVault.open({ secretKeyFile: dir + '/client', create: true });
const registry = await openRegistry({ file: dir + '/known_hosts', create: true });
await registry.add({ who: '127.0.0.1', key: client.publicKey });
const listener = await listen(0, { vault: server, registry });
const socket = await connect('127.0.0.1', listener.address().port, { vault: client, serverKey: listener.publicKey });
const peer = await listener.accept();
await socket.send(${JSON.stringify(message)});
console.log(Buffer.from(await peer.recv({ timeout: 20000 })).toString(), fingerprint(peer.peerKey) === fingerprint(client.publicKey));
await socket.close();
await listener.close();
`;
}
