/**
 * The PROXY protocol header a TCP balancer (HAProxy, cloud load balancers) puts in front of a
 * connection to say who the client really is: version 1 (one text line) and version 2 (binary), as
 * HAProxy's specification "The PROXY protocol" (proxy-protocol.txt) defines them. Pure code, no
 * I/O: the listener feeds it the first bytes of a connection (lib/connection/proxy-accept.ts).
 *
 * Strict on purpose: the header comes from a trusted balancer, so anything that is not exactly
 * what the specification allows is a broken or hostile peer, and the connection is closed. Every
 * input gives one of three answers: a header (and how many bytes it took), `null` (valid so far,
 * send more), or a CurvetunError `EPROTO` saying what is wrong. Inputs are bounded: a v1 line is at
 * most 107 bytes, a v2 header at most 16 + MAX_PROXY_V2_BODY bytes.
 *
 * Our choices where the specification leaves one: LOCAL (v2) and UNKNOWN (v1), which a balancer
 * sends for its own health checks, are accepted and carry no client address (the connection's own
 * address stands); a PROXY command over anything but TCP on IPv4 or IPv6 (UNSPEC, UDP, UNIX
 * sockets) is refused, since it carries no address the registry could check. TLVs must tile the
 * rest of the header exactly; their values are kept but not interpreted (no CRC32C check).
 */
import { SocketAddress, isIPv4, isIPv6 } from 'node:net';
import { CurvetunError } from '../errors.js';

/** The longest v1 line the specification allows, CRLF included. */
export const MAX_PROXY_V1_BYTES = 107;
/** Our bound on a v2 header's address block and TLVs (the specification allows 65 535). */
export const MAX_PROXY_V2_BODY = 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** `\r\n\r\n\0\r\nQUIT\n` */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** v2 header layout: signature, version and command, family and transport, body length, body. */
const V2 = { versionCommand: 12, family: 13, length: 14, body: 16 } as const;
const V2_VERSION = 0x2;
const V2_LOCAL = 0x0;
const V2_PROXY = 0x1;
/** Family and transport byte: TCP over IPv4 / IPv6, and the size of each one's address block. */
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;
const V2_ADDRESS_BYTES = { [V2_TCP4]: 12, [V2_TCP6]: 36 } as const;
/** A TLV: type (1), length (2), value. */
const TLV_HEADER_BYTES = 3;

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Uint8Array;
}

/** A decoded header; `length` is how many bytes of the input it took. */
export type ProxyHeader =
  | {
      version: 1 | 2;
      /** The balancer relays a client: `source` is that client. */
      command: 'proxy';
      family: 'ipv4' | 'ipv6';
      source: ProxyEndpoint;
      destination: ProxyEndpoint;
      tlvs: readonly ProxyTlv[];
      length: number;
    }
  | {
      version: 1 | 2;
      /** The balancer speaks for itself (a health check): no client address. */
      command: 'local';
      tlvs: readonly ProxyTlv[];
      length: number;
    };

function bad(why: string): CurvetunError {
  return new CurvetunError('EPROTO', `bad PROXY protocol header: ${why}`);
}

/** Does `bytes` start like `expected` as far as it goes? */
function startsLike(bytes: Uint8Array, expected: Uint8Array): boolean {
  const n = Math.min(bytes.length, expected.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

/**
 * Decode the PROXY header at the start of `bytes`: the header, `null` when more bytes are needed
 * (what is there is a valid beginning), or throws `EPROTO`.
 * @example parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n'))
 *   // { version: 1, command: 'proxy', family: 'ipv4', source: { address: '192.0.2.7', port: 51234 }, … }
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader | null {
  if (bytes.length === 0) return null;
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < V2.body ? checkV2Start(bytes) : parseV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return parseV1(bytes);
  throw bad('the connection does not start with a PROXY protocol signature');
}

// ---- version 1 --------------------------------------------------------------------------------

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function v1Port(text: string): number {
  if (!PORT.test(text) || Number(text) > 65_535) throw bad(`"${text.slice(0, 8)}" is not a port`);
  return Number(text);
}

function parseV1(bytes: Uint8Array): ProxyHeader | null {
  // The CR can be at most the 106th byte, so that CRLF ends the line within the bound.
  const lastCr = MAX_PROXY_V1_BYTES - 2;
  const limit = Math.min(bytes.length, lastCr + 1);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = bytes[i]!;
    if (c === 0x0d) {
      if (i + 1 >= bytes.length) return null; // the LF may follow
      if (bytes[i + 1] !== 0x0a) throw bad('a CR not followed by LF in the v1 line');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) throw bad('a control or non-ASCII byte in the v1 line');
  }
  if (end < 0) {
    if (bytes.length > lastCr) throw bad(`no CRLF within the first ${MAX_PROXY_V1_BYTES} bytes`);
    return null;
  }
  const length = end + 2;
  const fields = Buffer.from(bytes.buffer, bytes.byteOffset + V1_PREFIX.length, end - V1_PREFIX.length).toString('latin1').split(' ');
  if (fields[0] === 'UNKNOWN') return { version: 1, command: 'local', tlvs: [], length }; // the rest of the line is ignored
  if (fields.length !== 5) throw bad('a v1 line has a protocol, two addresses and two ports, each after one space');
  const [protocol, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string];
  let family: 'ipv4' | 'ipv6';
  if (protocol === 'TCP4') family = 'ipv4';
  else if (protocol === 'TCP6') family = 'ipv6';
  else throw bad(`unknown v1 protocol "${protocol.slice(0, 8)}"`);
  const valid = family === 'ipv4' ? isIPv4 : (a: string) => isIPv6(a) && !a.includes('%');
  if (!valid(source) || !valid(destination)) throw bad(`the v1 addresses are not ${protocol} addresses`);
  return {
    version: 1,
    command: 'proxy',
    family,
    source: { address: normalized(source, family), port: v1Port(sourcePort) },
    destination: { address: normalized(destination, family), port: v1Port(destinationPort) },
    tlvs: [],
    length,
  };
}

function normalized(address: string, family: 'ipv4' | 'ipv6'): string {
  return family === 'ipv4' ? address : new SocketAddress({ address, family }).address;
}

// ---- version 2 --------------------------------------------------------------------------------

/** What can be checked before the 16 fixed bytes are all there. */
function checkV2Start(bytes: Uint8Array): null {
  if (bytes.length > V2.versionCommand) checkVersionCommand(bytes[V2.versionCommand]!);
  return null;
}

function checkVersionCommand(byte: number): void {
  if (byte >> 4 !== V2_VERSION) throw bad(`version ${byte >> 4} (only 1 and 2 exist)`);
  const command = byte & 0x0f;
  if (command !== V2_LOCAL && command !== V2_PROXY) throw bad(`unknown v2 command ${command}`);
}

function parseV2(bytes: Uint8Array): ProxyHeader | null {
  const versionCommand = bytes[V2.versionCommand]!;
  checkVersionCommand(versionCommand);
  const familyByte = bytes[V2.family]!;
  const bodyLength = (bytes[V2.length]! << 8) | bytes[V2.length + 1]!;
  if (bodyLength > MAX_PROXY_V2_BODY) throw bad(`a v2 header of ${bodyLength} bytes (we take at most ${MAX_PROXY_V2_BODY})`);
  const local = (versionCommand & 0x0f) === V2_LOCAL;
  let addressBytes = 0;
  if (!local) {
    if (familyByte !== V2_TCP4 && familyByte !== V2_TCP6) throw bad(`family/transport 0x${familyByte.toString(16).padStart(2, '0')}: only TCP over IPv4 or IPv6 carries a client address`);
    addressBytes = V2_ADDRESS_BYTES[familyByte];
    if (bodyLength < addressBytes) throw bad(`a v2 body of ${bodyLength} bytes cannot hold its ${addressBytes}-byte address block`);
  }
  const length = V2.body + bodyLength;
  if (bytes.length < length) return null;
  const body = bytes.subarray(V2.body, length);
  if (local) {
    // The specification: a LOCAL header's body, family included, is ignored. Its TLVs are not read.
    return { version: 2, command: 'local', tlvs: [], length };
  }
  const family = familyByte === V2_TCP4 ? 'ipv4' : 'ipv6';
  const addressLength = family === 'ipv4' ? 4 : 16;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const portsAt = 2 * addressLength;
  return {
    version: 2,
    command: 'proxy',
    family,
    source: { address: addressText(body.subarray(0, addressLength), family), port: view.getUint16(portsAt) },
    destination: { address: addressText(body.subarray(addressLength, portsAt), family), port: view.getUint16(portsAt + 2) },
    tlvs: parseTlvs(body.subarray(addressBytes)),
    length,
  };
}

function addressText(raw: Uint8Array, family: 'ipv4' | 'ipv6'): string {
  if (family === 'ipv4') return raw.join('.');
  const groups: string[] = [];
  for (let i = 0; i < raw.length; i += 2) groups.push(((raw[i]! << 8) | raw[i + 1]!).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** TLVs must fill the rest of the header exactly. */
function parseTlvs(bytes: Uint8Array): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < TLV_HEADER_BYTES) throw bad('a TLV cut short in its header');
    const type = bytes[at]!;
    const length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    const start = at + TLV_HEADER_BYTES;
    if (start + length > bytes.length) throw bad(`a TLV of type 0x${type.toString(16)} runs ${start + length - bytes.length} bytes past the header`);
    tlvs.push({ type, value: new Uint8Array(bytes.subarray(start, start + length)) }); // a copy, not a view of the connection's buffer
    at = start + length;
  }
  return tlvs;
}
