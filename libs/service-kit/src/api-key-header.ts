import { MalformedAuthHeaderError, MalformedTokenError, NoAuthHeaderError } from './errors';

export interface ApiKeyCredentials {
  id: string;
  secret: string;
}

/**
 * Parses `Authorization: ApiKey base64(id:secret)` the way elastic/fleet-server does: exactly one
 * header, the `ApiKey ` scheme, and a decoded value with exactly one colon.
 */
export function parseApiKeyHeader(header: string | string[] | undefined): ApiKeyCredentials {
  if (header === undefined || header === '') throw new NoAuthHeaderError();
  if (Array.isArray(header)) throw new MalformedAuthHeaderError();
  const trimmed = header.trim();
  const match = /^ApiKey\s+(\S+)$/i.exec(trimmed);
  if (!match?.[1] || !trimmed.startsWith('ApiKey ')) throw new MalformedAuthHeaderError();
  const token = match[1];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length > 1024) throw new MalformedTokenError();
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const parts = decoded.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1] || decoded.includes('\uFFFD')) throw new MalformedTokenError();
  return { id: parts[0], secret: parts[1] };
}
