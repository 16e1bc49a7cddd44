import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Sealing at rest, in one place: AES-256-GCM with a random 96-bit IV per value and the owner's id
 * as additional authenticated data, so a sealed value copied onto another owner does not open.
 * Keys are 256-bit, kept base64 in a key file (mode 0600) created on first use. Used for the
 * secrets that actions carry (action-secrets.ts) and for the embedded store's secrets table
 * (sqlite/sqlite-secret-store.ts).
 */
export class SealingKeyError extends Error {}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new SealingKeyError('a sealing key must be 32 bytes');
}

/** `iv (12) | tag (16) | ciphertext` of `plaintext`, bound to `aad`. */
export function sealValue(key: Buffer, plaintext: string, aad: string): Buffer {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** The plaintext of a `sealValue` result, or undefined for another key, another `aad` or damaged bytes. */
export function openValue(key: Buffer, sealed: Buffer, aad: string): string | undefined {
  if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A key's public name: the first 16 hex digits of its SHA-256 (says which key sealed a value, reveals nothing of it). */
export const sealingKeyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

/**
 * The key in `file`, created there (32 random bytes, base64, mode 0600, directory 0700) when
 * missing. Replicas that share a store must share the file.
 */
export function loadKeyFile(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Written aside, then linked into place: replicas starting together over one directory
    // never read a half-written key, and the first link wins.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    try {
      linkSync(draft, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(draft);
    }
  }
  return readKeyFile(file);
}

/** The key in an existing `file` (never created: a previous key that is missing is an error). */
export function readKeyFile(file: string): Buffer {
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new SealingKeyError(`${file} does not hold a base64 256-bit key`);
  return key;
}
