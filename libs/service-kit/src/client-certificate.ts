import type { IncomingMessage } from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** Who a verified client certificate names, for the request log (ECS `tls.client.*`). */
export interface ClientCertificateIdentity {
  subject: string;
  issuer?: string;
}

/**
 * The headers a TLS-terminating proxy sets after it verified the client's certificate: the names
 * ingress-nginx uses (`auth-tls-pass-certificate-to-upstream`); deploy/haproxy/haproxy.cfg sets
 * the same ones and drops what the client sent.
 */
export const CLIENT_CERT_HEADERS = { verify: 'ssl-client-verify', subject: 'ssl-client-subject-dn', issuer: 'ssl-client-issuer-dn' } as const;

const bySocket = new WeakMap<object, ClientCertificateIdentity | null>();

/**
 * The client certificate behind a request: what a trusted proxy says it verified (the headers
 * above, only when the socket peer is one of `http.trustProxy`), else the certificate the client
 * presented on this connection, if it verified. Never a header from anyone else.
 */
export function clientCertificateOf(req: IncomingMessage, trusted: (address: string, hop: number) => boolean): ClientCertificateIdentity | undefined {
  const socket = req.socket as TLSSocket;
  const verify = req.headers[CLIENT_CERT_HEADERS.verify];
  if (verify !== undefined && trusted(socket.remoteAddress ?? '', 0)) {
    const subject = req.headers[CLIENT_CERT_HEADERS.subject];
    const issuer = req.headers[CLIENT_CERT_HEADERS.issuer];
    if (verify !== 'SUCCESS' || typeof subject !== 'string' || !subject) return undefined;
    return typeof issuer === 'string' && issuer ? { subject, issuer } : { subject };
  }
  if (!socket.encrypted) return undefined;
  let identity = bySocket.get(socket);
  if (identity === undefined) {
    const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
    identity = peer && peer.subject ? { subject: distinguishedName(peer.subject), issuer: distinguishedName(peer.issuer) } : null;
    bySocket.set(socket, identity);
  }
  return identity ?? undefined;
}

/** The request log's fields for a client certificate (none without one). */
export function clientCertificateLogFields(identity: ClientCertificateIdentity | undefined): Record<string, string> {
  if (!identity) return {};
  return identity.issuer ? { 'tls.client.subject': identity.subject, 'tls.client.issuer': identity.issuer } : { 'tls.client.subject': identity.subject };
}

function distinguishedName(name: PeerCertificate['subject']): string {
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}
