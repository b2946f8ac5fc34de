/**
 * A straight-line v2 handshake and first session frames, written from PROTOCOL.md ("Protocol v2")
 * alone: no import from lib/, only the primitives (tweetnacl, node:crypto, @noble/post-quantum).
 * Given the fixed inputs of a test vector it computes every packet, hash, chaining key, traffic
 * secret and frame, so a change of bytes in lib/ cannot pass unnoticed, nor a misreading of the
 * document by lib/ and the vectors alike.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import nacl from 'tweetnacl';

export interface VectorInputs {
  suite: 1 | 2;
  serverSecret: string;
  clientSecret: string;
  clientEphemeralSecret: string;
  serverEphemeralSecret: string;
  mlkemSeed: string;
  mlkemMessage: string;
  cookieNonce24: string;
  minuteKey: string;
  k16: string;
  expiry: number;
  v16: string;
  readyRandom: string;
  clientMaxMessageBytes: number;
  serverMaxMessageBytes: number;
  clientMessage: string;
  serverMessage: string;
  clientMessageAfterUpdate: string;
  closeCode: number;
  closeReason: string;
  serverMessageAfterUpdate: string;
}

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const pad16 = (s: string) => cat(ascii(s), new Uint8Array(16 - s.length));
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const u64 = (n: number) => cat(u32(Math.floor(n / 2 ** 32)), u32(n >>> 0));
const H = (...parts: Uint8Array[]) => new Uint8Array(createHash('sha256').update(cat(...parts)).digest());
const KDF = (ck: Uint8Array, ikm: Uint8Array, info: Uint8Array) => new Uint8Array(hkdfSync('sha256', ikm, ck, info, 32));
const EMPTY = new Uint8Array(0);
const box = (m: Uint8Array, n: Uint8Array, k: Uint8Array) => nacl.secretbox(m, n, k); // tag · ciphertext

const NAME = {
  1: 'curvetun/2 X25519 XSalsa20-Poly1305 HKDF-SHA256',
  2: 'curvetun/2 X25519+ML-KEM-768 XSalsa20-Poly1305 HKDF-SHA256',
} as const;

export function referenceVector(i: VectorInputs): Record<string, string> {
  const Ss = hex(i.serverSecret);
  const Cs = hex(i.clientSecret);
  const ECs = hex(i.clientEphemeralSecret);
  const ESs = hex(i.serverEphemeralSecret);
  const S = nacl.scalarMult.base(Ss);
  const C = nacl.scalarMult.base(Cs);
  const EC = nacl.scalarMult.base(ECs);
  const ES = nacl.scalarMult.base(ESs);

  // Hello
  const kem = i.suite === 2 ? ml_kem768.keygen(hex(i.mlkemSeed)) : null;
  const ek = kem ? kem.publicKey : EMPTY;
  const h0 = H(ascii(NAME[i.suite]), S);
  const helloHead = cat(ascii('CTUN2HEL'), Uint8Array.of(i.suite), EC, ek);
  const h1 = H(h0, helloHead);
  const ck1 = KDF(h0, nacl.scalarMult(ECs, S), cat(ascii('ctun2 ck hello'), h1));
  const kHello = KDF(ck1, EMPTY, ascii('ctun2 hello box'));
  const hello = cat(helloHead, box(EMPTY, cat(pad16('ctun2 hello'), u64(0)), kHello));

  // Cookie
  const enc = kem ? ml_kem768.encapsulate(ek, hex(i.mlkemMessage)) : null;
  const ct = enc ? enc.cipherText : EMPTY;
  const h2 = H(h1, ES, ct);
  const ck2 = enc ? KDF(ck1, enc.sharedSecret, cat(ascii('ctun2 ck mlkem'), h2)) : ck1;
  const ck3 = KDF(ck2, nacl.scalarMult(ESs, EC), cat(ascii('ctun2 ck ee'), h2));
  const cookieKey = KDF(hex(i.minuteKey), EMPTY, ascii('ctun2 cookie key'));
  const k16 = hex(i.k16);
  const K = cat(k16, box(cat(EC, ESs, ck3, h2, u64(i.expiry)), cat(ascii('ctun2-ck'), k16), cookieKey));
  const kCookie = KDF(ck1, EMPTY, ascii('ctun2 cookie box'));
  const n24 = hex(i.cookieNonce24);
  const cookie = cat(ascii('CTUN2COK'), n24, box(cat(ES, ct, K), n24, kCookie));

  // Initiate
  const v16 = hex(i.v16);
  const vouch = box(cat(pad16('ctun2 vouch'), EC, S, h2), cat(ascii('ctun2-vo'), v16), nacl.box.before(ES, Cs));
  const P = cat(C, v16, vouch, u32(i.clientMaxMessageBytes));
  const kInit = KDF(ck3, EMPTY, ascii('ctun2 initiate box'));
  const initiate = cat(ascii('CTUN2INI'), K, box(P, cat(pad16('ctun2 initiate'), u64(0)), kInit));

  // READY, and the traffic secrets
  const h3 = H(h2, K, P);
  const Ts2c = KDF(ck3, EMPTY, cat(ascii('ctun2 traffic s2c'), h3));
  const readyPlain = cat(Uint8Array.of(0x01), hex(i.readyRandom), u32(i.serverMaxMessageBytes));
  const h4 = H(h3, readyPlain);
  const Tc2s = KDF(ck3, EMPTY, cat(ascii('ctun2 traffic c2s'), h4));
  const boxKey = (T: Uint8Array) => KDF(T, EMPTY, ascii('ctun2 box key'));
  const c2s = (counter: number, T: Uint8Array, plain: Uint8Array) => box(plain, cat(pad16('ctun2 client msg'), u64(counter)), boxKey(T));
  const s2c = (counter: number, T: Uint8Array, plain: Uint8Array) => box(plain, cat(pad16('ctun2 server msg'), u64(counter)), boxKey(T));
  const ready = s2c(0, Ts2c, readyPlain);

  // Session: DATA each way, a client KEY_UPDATE and the DATA after it, the client's END, the server's CLOSE.
  const data = (text: string) => cat(Uint8Array.of(0x10), ascii(text));
  const keyUpdate = (T: Uint8Array) => KDF(T, EMPTY, ascii('ctun2 key update'));
  const Tc2s1 = keyUpdate(Tc2s);
  const Tc2s2 = keyUpdate(Tc2s1);
  const Ts2c1 = keyUpdate(Ts2c);
  const reason = new Uint8Array(Buffer.from(i.closeReason, 'utf8'));
  return {
    S: toHex(S),
    C: toHex(C),
    EC: toHex(EC),
    ES: toHex(ES),
    ek: toHex(ek),
    ct: toHex(ct),
    h0: toHex(h0),
    h1: toHex(h1),
    ck1: toHex(ck1),
    h2: toHex(h2),
    ck2: toHex(ck2),
    ck3: toHex(ck3),
    h3: toHex(h3),
    h4: toHex(h4),
    trafficServerToClient: toHex(Ts2c),
    trafficClientToServer: toHex(Tc2s),
    cookieValue: toHex(K),
    hello: toHex(hello),
    cookie: toHex(cookie),
    initiate: toHex(initiate),
    ready: toHex(ready),
    clientData: toHex(c2s(0, Tc2s, data(i.clientMessage))),
    serverData: toHex(s2c(1, Ts2c, data(i.serverMessage))),
    clientKeyUpdate: toHex(c2s(1, Tc2s, Uint8Array.of(0x40))),
    clientDataAfterUpdate: toHex(c2s(2, Tc2s1, data(i.clientMessageAfterUpdate))),
    clientEnd: toHex(c2s(3, Tc2s1, Uint8Array.of(0x20))),
    serverClose: toHex(s2c(2, Ts2c, cat(Uint8Array.of(0x21, i.closeCode >>> 8, i.closeCode & 255), reason))),
    // Key update: each direction's next epochs (c2s twice, so the chain is pinned) and their box keys.
    boxKeyClientToServer0: toHex(boxKey(Tc2s)),
    trafficClientToServer1: toHex(Tc2s1),
    boxKeyClientToServer1: toHex(boxKey(Tc2s1)),
    trafficClientToServer2: toHex(Tc2s2),
    boxKeyClientToServer2: toHex(boxKey(Tc2s2)),
    boxKeyServerToClient0: toHex(boxKey(Ts2c)),
    trafficServerToClient1: toHex(Ts2c1),
    boxKeyServerToClient1: toHex(boxKey(Ts2c1)),
    // The other ending of the same connection: after its DATA the server updates its key (counter 2,
    // in place of the CLOSE) and sends DATA under T_s2c,1 (counter 3).
    serverKeyUpdate: toHex(s2c(2, Ts2c, Uint8Array.of(0x40))),
    serverDataAfterUpdate: toHex(s2c(3, Ts2c1, data(i.serverMessageAfterUpdate))),
    // What a receiver must refuse once it opened the KEY_UPDATE: the next frame sealed under the old key.
    clientDataUnderOldKey: toHex(c2s(2, Tc2s, data(i.clientMessageAfterUpdate))),
    serverDataUnderOldKey: toHex(s2c(3, Ts2c, data(i.serverMessageAfterUpdate))),
  };
}
