/**
 * PROXY protocol headers made for tests, written from HAProxy's specification rather than from
 * lib/net/proxy-header.ts (an independent encoder to check the decoder against), and a balancer
 * stand-in: a TCP relay that writes a header of the test's choice, then pipes both ways.
 */
import { once } from 'node:events';
import { createServer, connect, isIPv4 } from 'node:net';
import type { Server, Socket } from 'node:net';

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

export function v1Header(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const protocol = isIPv4(source) ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${protocol} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`, 'latin1');
}

/** The 16 bytes of an IPv6 address (full or :: form, no zone, no embedded IPv4). */
function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

export interface V2Options {
  command?: 'local' | 'proxy';
  source?: string;
  destination?: string;
  sourcePort?: number;
  destinationPort?: number;
  tlvs?: { type: number; value: Uint8Array }[];
  /** Override the family/transport byte (e.g. 0x12 for UDP). */
  familyByte?: number;
  /** Override the length field (to lie about the body). */
  length?: number;
}

export function v2Header(options: V2Options = {}): Buffer {
  const source = options.source ?? '127.0.0.2';
  const destination = options.destination ?? '127.0.0.1';
  const v4 = isIPv4(source);
  const addresses = v4
    ? Buffer.concat([Buffer.from(source.split('.').map(Number)), Buffer.from(destination.split('.').map(Number))])
    : Buffer.concat([ipv6Bytes(source), ipv6Bytes(destination)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(options.sourcePort ?? 40000, 0);
  ports.writeUInt16BE(options.destinationPort ?? 7000, 2);
  const tlvs = (options.tlvs ?? []).map((t) => {
    const head = Buffer.alloc(3);
    head[0] = t.type;
    head.writeUInt16BE(t.value.length, 1);
    return Buffer.concat([head, t.value]);
  });
  const body = Buffer.concat([addresses, ports, ...tlvs]);
  const fixed = Buffer.alloc(4);
  fixed[0] = options.command === 'local' ? 0x20 : 0x21;
  fixed[1] = options.familyByte ?? (v4 ? 0x11 : 0x21);
  fixed.writeUInt16BE(options.length ?? body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

export interface Relay {
  port: number;
  /** Connections relayed so far. */
  connections(): number;
  close(): Promise<void>;
}

export interface RelayOptions {
  /** What the balancer says about each client (no header: a plain pipe). */
  header?: (client: Socket) => Uint8Array;
  /**
   * How the header goes out: on its own as soon as the upstream connection is open (default),
   * in one write with the client's first bytes (the Hello right behind it), or a byte at a time.
   */
  mode?: 'alone' | 'with-first-data' | 'byte-by-byte';
  /** The local address to connect upstream from (e.g. 127.0.0.2: a client on another address). */
  localAddress?: string;
}

/**
 * A balancer stand-in on 127.0.0.1: for each client, connect to 127.0.0.1:`targetPort`, write
 * the header (what a balancer would say about the client), then relay bytes both ways.
 */
export async function startRelay(targetPort: number, options: RelayOptions = {}): Promise<Relay> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((client) => {
    count++;
    client.pause();
    const upstream = connect({ host: '127.0.0.1', port: targetPort, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    const header = options.header ? Buffer.from(options.header(client)) : Buffer.alloc(0);
    upstream.once('connect', async () => {
      upstream.pipe(client);
      if (options.mode === 'with-first-data') {
        client.once('data', (first: Buffer) => {
          upstream.write(Buffer.concat([header, first]));
          client.pipe(upstream);
        });
        client.resume();
        return;
      }
      if (options.mode === 'byte-by-byte') {
        for (const byte of header) {
          upstream.write(Buffer.from([byte]));
          await new Promise((r) => setTimeout(r, 2));
        }
      } else if (header.length > 0) upstream.write(header);
      client.pipe(upstream);
      client.resume();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    connections: () => count,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
