import type { ErrorEmitter } from 'ioredis/built/connectors/AbstractConnector';
import StandaloneConnector, { type StandaloneConnectionOptions } from 'ioredis/built/connectors/StandaloneConnector';
import type { NetStream } from 'ioredis/built/types';

/**
 * ioredis listens for its socket's 'error' once. A TLS handshake that fails (a CA that does not
 * sign the server's certificate, a client certificate Redis refuses) may emit a second error, the
 * peer's alert, and with no listener left that one is an uncaught exception that ends the process.
 * This connector (ioredis's `Connector` option, used by the bus and BullMQ for every URL) keeps a
 * listener for the socket's whole life; ioredis still receives and reports the first error, and
 * reconnects as usual.
 */
export class TlsSafeConnector extends StandaloneConnector {
  // ioredis's ConnectorConstructor takes `unknown`: it passes the client's options.
  constructor(options: unknown) {
    super(options as StandaloneConnectionOptions);
  }

  override async connect(emitter: ErrorEmitter): Promise<NetStream> {
    const stream = await super.connect(emitter);
    stream.on('error', () => undefined);
    return stream;
  }
}
