import type { Express } from 'express';
import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpConfig } from './config';
import type { Logger } from './logger';
import { leanRouterOf } from './lean-router';
import type { ListenerCredentials } from './listener-credentials';

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting, waits up to `drainTimeoutMs` for in-flight requests, then cuts the rest. Idempotent. */
  close(): Promise<void>;
}

const OVER_CAP_BODY = JSON.stringify({ statusCode: 429, error: 'TooManyRequests', message: 'too many open connections' });

/** The whole answer to a request on a socket over the connection cap: 429, Retry-After, then close. */
function refuseOverCap(res: ServerResponse): void {
  res.shouldKeepAlive = false;
  res.writeHead(429, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(OVER_CAP_BODY),
    'Retry-After': '1',
    Connection: 'close',
  });
  res.end(OVER_CAP_BODY);
}

/**
 * Starts an HTTP server with the timeouts a long-poll server needs set explicitly:
 * `requestTimeout` bounds receiving a request (not answering it), `headersTimeout` guards against
 * slow headers, `keepAliveTimeout` sits above the load balancer's idle timeout, and the socket
 * inactivity timeout is off because a long poll is legitimately silent for up to an hour.
 */
export async function startHttpServer(app: Express, cfg: HttpConfig, logger: Logger, tls?: ListenerCredentials): Promise<RunningServer> {
  // Sockets accepted over `maxConnections`: each gets one 429 answer and is closed.
  const overCap = new WeakSet<Socket>();
  const lean = leanRouterOf(app);
  const timeouts: ServerOptions = { requestTimeout: cfg.requestTimeoutMs, headersTimeout: cfg.headersTimeoutMs, keepAliveTimeout: cfg.keepAliveTimeoutMs };
  const listener: RequestListener = (req, res) => {
    if (overCap.has(req.socket)) refuseOverCap(res);
    else if (!lean?.dispatch(req, res)) app(req, res);
  };
  const server: Server = tls ? createTlsListener(tls, cfg, timeouts, listener, logger) : createServer(timeouts, listener);
  server.requestTimeout = cfg.requestTimeoutMs;
  server.headersTimeout = cfg.headersTimeoutMs;
  server.keepAliveTimeout = cfg.keepAliveTimeoutMs;
  server.timeout = 0;
  server.maxHeadersCount = 100;
  const sockets = new Set<Socket>();
  // Answers not yet sent, so that once draining starts each of them closes its connection.
  const pending = new Set<ServerResponse>();
  let draining = false;
  // Before the app's own listener, so the header is set before anything is sent.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.setHeader('Connection', 'close');
      return;
    }
    pending.add(res);
    res.once('close', () => pending.delete(res));
  });
  // Over TLS a socket counts once its handshake is done: the 429 is an HTTP answer, sent encrypted.
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    if (cfg.maxConnections > 0 && sockets.size >= cfg.maxConnections) {
      // Answered rather than reset, so a client (or load balancer) sees why and when to retry. The
      // socket is not counted, and may live only as long as its request headers are allowed to take.
      overCap.add(socket);
      socket.setTimeout(cfg.headersTimeoutMs || 10_000, () => socket.destroy());
      logger.debug({ open: sockets.size, max: cfg.maxConnections }, 'connection over the cap: answering 429');
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    logger.debug({ code: err.code }, 'client error');
    if (socket.writable && !socket.destroyed) {
      // A request not received in time (headersTimeout, requestTimeout) is a 408, as Node itself
      // answers it: the agent retries it. Anything else the parser refused (headers or a URL too
      // long, a malformed request line) is a 400. Either way with the JSON error body every other
      // answer has, so a client reads why.
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message: `the request could not be read (${err.code ?? 'parse error'})` });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: cfg.port, host: cfg.host, backlog: cfg.listenBacklog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : cfg.host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      // From now on every answer ends its keep-alive connection: an agent's next request then
      // finds the port closed (and goes to another replica) instead of getting 503s on a
      // connection that keeps this process alive until the drain timeout cuts it.
      draining = true;
      for (const res of pending) if (!res.headersSent) res.setHeader('Connection', 'close');
      pending.clear();
      const timer = setTimeout(() => {
        server.closeAllConnections();
      }, cfg.drainTimeoutMs);
      timer.unref();
      tls?.close();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  logger.info({ port, host: cfg.host, tls: tls ? { client_authentication: tls.clientAuth } : false }, 'listening');
  return { server, port, url: `${tls ? 'https' : 'http'}://${host}:${port}`, close };
}

/**
 * The HTTPS server: the credentials' certificate, re-read on `reloadIntervalMs` and swapped in for
 * new handshakes (`setSecureContext`; open connections, and so held long polls, keep theirs). A
 * handshake must finish within `headersTimeoutMs`, like the request headers after it.
 */
function createTlsListener(tls: ListenerCredentials, cfg: HttpConfig, timeouts: ServerOptions, listener: RequestListener, logger: Logger): Server {
  const server = createTlsServer(
    {
      ...timeouts,
      ...tls.secureContextOptions,
      requestCert: tls.clientAuth !== 'none',
      rejectUnauthorized: tls.clientAuth === 'required',
      handshakeTimeout: cfg.headersTimeoutMs || 10_000,
    },
    listener,
  );
  if (tls.clientAuth === 'optional') {
    // Optional means a client may present no certificate, not that any certificate will do: one
    // that does not verify against the client CAs ends the connection before a request is read.
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.authorized) return;
      const peer = socket.getPeerCertificate();
      if (peer && Object.keys(peer).length > 0) {
        logger.debug({ reason: String(socket.authorizationError) }, 'client certificate refused');
        socket.destroy();
      }
    });
  }
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code, reason: err.message }, 'TLS handshake failed'));
  tls.watch(cfg.tls.reloadIntervalMs, (options) => server.setSecureContext(options));
  return server;
}
