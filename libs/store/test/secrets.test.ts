import { expect } from 'chai';
import { pbkdf2Sync } from 'node:crypto';
import {
  constantTimeEquals,
  generateApiKey,
  hashApiKeySecret,
  hashReplaceToken,
  newId,
  policyRevisionDocId,
  uuidV5,
  verifyApiKeySecret,
  verifyReplaceToken,
} from '@fleet/store';
import type { Pbkdf2Options } from '@fleet/store';

const FAST: Pbkdf2Options = { iterations: 1000, keyLength: 32, saltLength: 16 };
const UNPADDED_B64 = /^[A-Za-z0-9+/]+$/;

/** Flips one bit in the decoded bytes of a base64 string and re-encodes it. */
function tamperB64(b64: string, byteIndex = 0): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[byteIndex] = (bytes[byteIndex] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

describe('secrets', function () {
  describe('generateApiKey', function () {
    it('When a key is generated, then its token decodes to id:secret', function () {
      const key = generateApiKey();
      expect(Buffer.from(key.token, 'base64').toString('utf8')).to.equal(`${key.id}:${key.secret}`);
      expect(key.id).to.have.length(20);
      expect(key.id).to.not.include(':');
      expect(Buffer.from(key.secret, 'base64url')).to.have.length(32);
    });

    it('When two keys are generated, then ids and secrets differ', function () {
      const a = generateApiKey();
      const b = generateApiKey();
      expect(a.id).to.not.equal(b.id);
      expect(a.secret).to.not.equal(b.secret);
    });
  });

  describe('hashApiKeySecret / verifyApiKeySecret', function () {
    it('When the right secret is verified, then it is accepted, and a wrong one is rejected', function () {
      const { secret } = generateApiKey();
      const stored = hashApiKeySecret(secret);
      expect(stored).to.match(/^sha256\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      expect(stored).to.not.include(secret);
      expect(verifyApiKeySecret(secret, stored)).to.equal(true);
      expect(verifyApiKeySecret(`${secret}x`, stored)).to.equal(false);
      expect(verifyApiKeySecret('', stored)).to.equal(false);
    });

    it('When the stored hash is tampered with, then verification fails', function () {
      const secret = 'a-secret';
      const stored = hashApiKeySecret(secret);
      const [scheme, salt, digest] = stored.split('$') as [string, string, string];
      expect(verifyApiKeySecret(secret, `${scheme}$${salt}$${tamperB64(digest)}`)).to.equal(false);
      expect(verifyApiKeySecret(secret, `${scheme}$${tamperB64(salt)}$${digest}`)).to.equal(false);
      expect(verifyApiKeySecret(secret, `md5$${salt}$${digest}`)).to.equal(false);
      expect(verifyApiKeySecret(secret, `${scheme}$${salt}$${digest.slice(0, 20)}`)).to.equal(false);
      expect(verifyApiKeySecret(secret, `${scheme}$${salt}`)).to.equal(false);
      expect(verifyApiKeySecret(secret, '')).to.equal(false);
    });

    it('When the same secret is hashed twice, then the salts differ and both verify', function () {
      const a = hashApiKeySecret('same');
      const b = hashApiKeySecret('same');
      expect(a.split('$')[1]).to.not.equal(b.split('$')[1]);
      expect(a).to.not.equal(b);
      expect(verifyApiKeySecret('same', a)).to.equal(true);
      expect(verifyApiKeySecret('same', b)).to.equal(true);
    });
  });

  describe('hashReplaceToken / verifyReplaceToken', function () {
    it('When a replace token is hashed, then the format is $pbkdf2-sha512$<iter>$<salt>$<key> with unpadded base64', async function () {
      const stored = await hashReplaceToken('replace-me', FAST);
      const parts = stored.split('$');
      expect(parts).to.have.length(5);
      const [empty, scheme, iterations, salt, key] = parts as [string, string, string, string, string];
      expect(empty).to.equal('');
      expect(scheme).to.equal('pbkdf2-sha512');
      expect(iterations).to.equal('1000');
      expect(salt).to.match(UNPADDED_B64);
      expect(key).to.match(UNPADDED_B64);
      expect(Buffer.from(salt, 'base64')).to.have.length(FAST.saltLength);
      expect(Buffer.from(key, 'base64')).to.have.length(FAST.keyLength);
      // The key is PBKDF2-HMAC-SHA512 of the token with that salt and iteration count.
      const expected = pbkdf2Sync('replace-me', Buffer.from(salt, 'base64'), 1000, FAST.keyLength, 'sha512');
      expect(key).to.equal(expected.toString('base64').replace(/=+$/, ''));
    });

    it('When a replace token is verified, then the right token is accepted and a wrong one rejected', async function () {
      const stored = await hashReplaceToken('replace-me', FAST);
      expect(await verifyReplaceToken('replace-me', stored)).to.equal(true);
      expect(await verifyReplaceToken('replace-me!', stored)).to.equal(false);
      expect(await verifyReplaceToken('', stored)).to.equal(false);
    });

    it('When the same token is hashed twice, then the salts differ', async function () {
      const a = await hashReplaceToken('token', FAST);
      const b = await hashReplaceToken('token', FAST);
      expect(a.split('$')[3]).to.not.equal(b.split('$')[3]);
      expect(await verifyReplaceToken('token', b)).to.equal(true);
    });

    it('When the stored value is malformed, then verification returns false', async function () {
      const stored = await hashReplaceToken('token', FAST);
      const [, , iterations, salt, key] = stored.split('$') as [string, string, string, string, string];
      const malformed = [
        '',
        'token',
        `pbkdf2-sha512$${iterations}$${salt}$${key}`,
        `$pbkdf2-sha256$${iterations}$${salt}$${key}`,
        `$pbkdf2-sha512$${iterations}$${salt}`,
        `$pbkdf2-sha512$${iterations}$${salt}$${key}$extra`,
        `$pbkdf2-sha512$many$${salt}$${key}`,
        `$pbkdf2-sha512$1000.5$${salt}$${key}`,
        `$pbkdf2-sha512$${iterations}$$${key}`,
        `$pbkdf2-sha512$${iterations}$c2FsdA$${key}`,
        `$pbkdf2-sha512$${iterations}$${salt}$`,
        `$pbkdf2-sha512$${iterations}$${salt}$a2V5`,
        `$pbkdf2-sha512$${iterations}$${tamperB64(salt)}$${key}`,
        `$pbkdf2-sha512$${iterations}$${salt}$${tamperB64(key, 5)}`,
        `$pbkdf2-sha512$1001$${salt}$${key}`,
      ];
      for (const value of malformed) {
        expect(await verifyReplaceToken('token', value), value).to.equal(false);
      }
      expect(await verifyReplaceToken('token', stored)).to.equal(true);
    });

    it('When the stored iteration count is below 1000, then verification returns false even for the right token', async function () {
      const weak = await hashReplaceToken('token', { ...FAST, iterations: 999 });
      expect(weak.split('$')[2]).to.equal('999');
      expect(await verifyReplaceToken('token', weak)).to.equal(false);

      const tiny = await hashReplaceToken('token', { ...FAST, iterations: 1 });
      expect(await verifyReplaceToken('token', tiny)).to.equal(false);
    });
  });

  describe('uuidV5', function () {
    it('When hashing www.example.com in the DNS namespace, then it matches the RFC 4122 test vector', function () {
      expect(uuidV5('www.example.com')).to.equal('2ed6657d-e927-568b-95e1-2665a8aea6a2');
      expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).to.equal(
        '2ed6657d-e927-568b-95e1-2665a8aea6a2',
      );
    });

    it('When hashing in another namespace, then the result differs and carries version 5 and the RFC variant', function () {
      const url = uuidV5('www.example.com', '6ba7b811-9dad-11d1-80b4-00c04fd430c8');
      expect(url).to.not.equal('2ed6657d-e927-568b-95e1-2665a8aea6a2');
      expect(url).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });

    it('When a policy revision id is computed, then it is uuidV5("<policy_id>:<revision_idx>")', function () {
      expect(policyRevisionDocId('policy-1', 3)).to.equal(uuidV5('policy-1:3'));
      expect(policyRevisionDocId('policy-1', 3)).to.not.equal(policyRevisionDocId('policy-1', 4));
    });

    it('When newId is called, then it returns distinct v4 UUIDs', function () {
      const a = newId();
      expect(a).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(newId()).to.not.equal(a);
    });
  });

  describe('constantTimeEquals', function () {
    const cases: [string, string, boolean][] = [
      ['abc', 'abc', true],
      ['', '', true],
      ['abc', 'abd', false],
      ['abc', 'abcd', false],
      ['abc', '', false],
      ['ABC', 'abc', false],
      ['ünï', 'ünï', true],
    ];
    for (const [a, b, want] of cases) {
      it(`When comparing ${JSON.stringify(a)} and ${JSON.stringify(b)}, then the result is ${want}`, function () {
        expect(constantTimeEquals(a, b)).to.equal(want);
        expect(constantTimeEquals(b, a)).to.equal(want);
      });
    }
  });
});
