import type { ApiKeyRecord, JsonObject } from './documents';
import type { ApiKeyInfo } from './store-port';
import { createHash, pbkdf2, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

export interface GeneratedApiKey {
  id: string;
  secret: string;
  /** `base64(id:secret)`, what agents send as `Authorization: ApiKey <token>`. */
  token: string;
}

const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolOffset = 0;

/**
 * CSPRNG bytes cut from a pooled block, as Node's own `randomUUID` does: one call into OpenSSL per
 * 4 KiB instead of three per key (profiled at about 40 µs each under an enrollment storm). A block
 * is never reused: it is replaced once handed out, and the slices handed out are never written.
 */
function pooledRandomBytes(size: number): Buffer {
  if (size > RANDOM_POOL_BYTES) return randomBytes(size);
  if (randomPoolOffset + size > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolOffset = 0;
  }
  const out = randomPool.subarray(randomPoolOffset, randomPoolOffset + size);
  randomPoolOffset += size;
  return out;
}

/** A new API key: a 20-character id (like Elasticsearch's) and a 256-bit secret. */
export function generateApiKey(): GeneratedApiKey {
  const id = pooledRandomBytes(15).toString('base64url');
  const secret = pooledRandomBytes(32).toString('base64url');
  return { id, secret, token: Buffer.from(`${id}:${secret}`, 'utf8').toString('base64') };
}

/**
 * Hash for high-entropy API key secrets: salted SHA-256. A slow KDF would add nothing against
 * guessing a 256-bit random secret and would cost CPU on every uncached checkin.
 */
export function hashApiKeySecret(secret: string): string {
  const salt = pooledRandomBytes(16);
  const digest = createHash('sha256').update(salt).update(secret, 'utf8').digest();
  return `sha256$${salt.toString('base64')}$${digest.toString('base64')}`;
}

/** Constant-time check of a secret against a stored `hashApiKeySecret` value. */
export function verifyApiKeySecret(secret: string, stored: string): boolean {
  const [scheme, saltB64, digestB64] = stored.split('$');
  if (scheme !== 'sha256' || !saltB64 || !digestB64) return false;
  const expected = Buffer.from(digestB64, 'base64');
  const actual = createHash('sha256').update(Buffer.from(saltB64, 'base64')).update(secret, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Constant-time equality of two strings of unknown length. */
export function constantTimeEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export interface Pbkdf2Options {
  iterations: number;
  keyLength: number;
  saltLength: number;
}

/** elastic/fleet-server's defaults (`server.pdkdf2.*`). */
export const DEFAULT_PBKDF2: Pbkdf2Options = { iterations: 210_000, keyLength: 32, saltLength: 64 };

const b64NoPad = (buf: Buffer): string => buf.toString('base64').replace(/=+$/, '');

/** Hashes a replace token as `$pbkdf2-sha512$<iterations>$<salt>$<key>` (unpadded base64), the reference's format. */
export async function hashReplaceToken(token: string, opts: Pbkdf2Options = DEFAULT_PBKDF2): Promise<string> {
  const salt = randomBytes(opts.saltLength);
  const key = await pbkdf2Async(token, salt, opts.iterations, opts.keyLength, 'sha512');
  return `$pbkdf2-sha512$${opts.iterations}$${b64NoPad(salt)}$${b64NoPad(key)}`;
}

/** Constant-time check of a replace token against its stored hash; false for any malformed hash. */
export async function verifyReplaceToken(token: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'pbkdf2-sha512') return false;
  const iterations = Number(parts[2]);
  if (!Number.isInteger(iterations) || iterations < 1000 || iterations > 10_000_000) return false;
  const salt = Buffer.from(parts[3] ?? '', 'base64');
  const expected = Buffer.from(parts[4] ?? '', 'base64');
  if (salt.length < 16 || expected.length < 14) return false;
  const actual = await pbkdf2Async(token, salt, iterations, expected.length, 'sha512');
  return timingSafeEqual(expected, actual);
}

/** A random UUIDv4. */
export const newId = (): string => randomUUID();

const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

/** RFC 4122 UUIDv5 (SHA-1), as Kibana uses for `.fleet-policies` ids. */
export function uuidV5(name: string, namespace: string = DNS_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The `.fleet-policies` document id of a revision. */
export const policyRevisionDocId = (policyId: string, revisionIdx: number): string =>
  uuidV5(`${policyId}:${revisionIdx}`);

/** A new key for a built-in credential store: the stored record (hash only) and what to hand out once. */
export function issueBuiltinApiKey(name: string, metadata: JsonObject): { record: ApiKeyRecord; secret: string; token: string } {
  const key = generateApiKey();
  const record: ApiKeyRecord = {
    id: key.id,
    name,
    hash: hashApiKeySecret(key.secret),
    metadata,
    created_at: new Date().toISOString(),
    invalidated: false,
  };
  return { record, secret: key.secret, token: key.token };
}

/** What a built-in store reveals of a key: never its hash. */
export const apiKeyInfo = (rec: ApiKeyRecord): ApiKeyInfo => ({ id: rec.id, name: rec.name, metadata: rec.metadata, invalidated: rec.invalidated });
