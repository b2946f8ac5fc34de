/** The part of @hyperswarm/secret-stream's API the benchmark uses (the package ships no types). */
declare module '@hyperswarm/secret-stream' {
  import type { Socket } from 'node:net';

  interface KeyPair {
    publicKey: Buffer;
    secretKey: Buffer;
  }

  /** A streamx Duplex: each write is one encrypted message, each 'data' event one message. */
  class NoiseSecretStream {
    constructor(isInitiator: boolean, rawStream: Socket, options?: { keyPair?: KeyPair });
    static keyPair(seed?: Buffer): KeyPair;
    readonly publicKey: Buffer;
    /** The peer's static key, known once 'connect' has fired. */
    readonly remotePublicKey: Buffer | null;
    write(data: Uint8Array): boolean;
    destroy(error?: Error): void;
    on(event: 'data', listener: (message: Buffer) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'connect' | 'drain' | 'close', listener: () => void): this;
    once(event: 'error', listener: (error: Error) => void): this;
    once(event: 'connect' | 'drain' | 'close', listener: () => void): this;
  }
  export default NoiseSecretStream;
}
