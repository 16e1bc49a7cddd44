import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Issues X.509 certificates (ECDSA P-256, SHA-256) without a dependency: a private CA and the
 * server and client certificates it signs. The all-in-one process uses it to serve HTTPS on first
 * start; the topology runner and the tests use it for their certificates.
 *
 * Only what a TLS peer checks is written: subject and issuer common names, validity, the key, basic
 * constraints, key usage, extended key usage, subject alternative names (DNS names and IP
 * addresses, which Go's TLS, and so Elastic Agent, matches against; it ignores the common name),
 * and a subject key identifier. Node's own X509Certificate parses every certificate issued here
 * before it is returned, so a malformed one can never be written.
 */
export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8, unencrypted. */
  keyPem: string;
  /** Uppercase hex, as `X509Certificate.serialNumber` and `openssl x509 -serial` show it. */
  serial: string;
}

export interface CertificateAuthorityOptions {
  commonName: string;
  notBefore?: Date;
  /** Default: ten years after notBefore. */
  notAfter?: Date;
}

export interface CertificateOptions {
  commonName: string;
  /** DNS names and IP addresses (subject alternative names). */
  hosts?: string[];
  /** `ca`: an intermediate CA, which signs further certificates. */
  usage: 'server' | 'client' | 'both' | 'ca';
  notBefore?: Date;
  /** Default: 825 days after notBefore (the longest validity clients still accept for a server). */
  notAfter?: Date;
}

const DAY_MS = 86_400_000;

export function createCertificateAuthority(opts: CertificateAuthorityOptions): IssuedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = opts.notBefore ?? backdated();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = distinguishedName(opts.commonName);
  const extensions = [
    extension(OID.basicConstraints, true, seq(bool(true))),
    // digitalSignature, keyCertSign, cRLSign
    extension(OID.keyUsage, true, bitString(Buffer.from([0x86]), 1)),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spki))),
  ];
  return signed({ issuer: name, subject: name, spki, notBefore, notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 3650 * DAY_MS), extensions }, privateKey);
}

export function issueCertificate(ca: Pick<IssuedCertificate, 'certPem' | 'keyPem'>, opts: CertificateOptions): IssuedCertificate {
  const caCert = new X509Certificate(ca.certPem);
  if (!caCert.ca) throw new Error('the issuing certificate is not a CA');
  const caKey = createPrivateKey(ca.keyPem);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = opts.notBefore ?? backdated();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const purposes = { server: [OID.serverAuth], client: [OID.clientAuth], both: [OID.serverAuth, OID.clientAuth], ca: [] }[opts.usage];
  const extensions =
    opts.usage === 'ca'
      ? [extension(OID.basicConstraints, true, seq(bool(true))), extension(OID.keyUsage, true, bitString(Buffer.from([0x86]), 1))]
      : [
          extension(OID.basicConstraints, true, seq()),
          // digitalSignature (ECDHE key exchange signs with it)
          extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
          extension(OID.extKeyUsage, false, seq(...purposes.map(oid))),
        ];
  extensions.push(extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spki))));
  const hosts = opts.hosts ?? [];
  if (hosts.length > 0) extensions.push(extension(OID.subjectAltName, false, seq(...hosts.map(generalName))));
  const issued = signed(
    {
      issuer: subjectOf(caCert),
      subject: distinguishedName(opts.commonName),
      spki,
      notBefore,
      notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 825 * DAY_MS),
      extensions,
    },
    caKey,
  );
  if (!new X509Certificate(issued.certPem).verify(caCert.publicKey)) throw new Error('issued certificate does not verify against its CA');
  return { ...issued, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** Valid from an hour ago, so a peer whose clock is a little behind still accepts it. */
const backdated = (): Date => new Date(Date.now() - 3_600_000);

interface TbsFields {
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

function signed(fields: TbsFields, key: KeyObject): IssuedCertificate {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x10; // positive, and always 16 bytes long
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    fields.issuer,
    seq(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.spki,
    tlv(0xa3, seq(...fields.extensions)),
  );
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' });
  const der = seq(tbs, algorithm, bitString(signature, 0));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const parsed = new X509Certificate(certPem);
  return { certPem, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), serial: parsed.serialNumber.toUpperCase() };
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// DER, the few types a certificate needs.

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const octets = (value: Buffer): Buffer => tlv(0x04, value);
const bitString = (value: Buffer, unusedBits: number): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), value]));

function integer(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0 && value[start + 1]! < 0x80) start++;
  const body = value.subarray(start);
  return tlv(0x02, body[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280, 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

const distinguishedName = (commonName: string): Buffer => seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

const keyIdentifier = (spki: Buffer): Buffer => createHash('sha1').update(spki).digest();

/** dNSName [2] or iPAddress [7], both implicit. */
function generalName(host: string): Buffer {
  const family = isIP(host);
  if (family === 4) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
  if (family === 6) return tlv(0x87, ipv6Bytes(host));
  if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw new Error(`not a DNS name or IP address: ${JSON.stringify(host)}`);
  }
  return tlv(0x82, Buffer.from(host.toLowerCase(), 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  // A trailing dotted IPv4 part (::ffff:10.0.0.1) becomes its two hex groups first.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const parse = (part: string): number[] => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** The subject Name of a certificate, as its DER bytes (the issuer field of what it signs). */
function subjectOf(cert: X509Certificate): Buffer {
  const der = cert.raw;
  const tbs = children(children(der, 0)[0]!);
  // version [0], serial, signature algorithm, issuer, validity, subject
  const offset = tbs[0]![0] === 0xa0 ? 1 : 0;
  return tbs[offset + 4]!;
}

/** The elements inside the constructed DER value that starts at `offset` (each with its header). */
function children(der: Buffer, offset = 0): Buffer[] {
  const { start, end } = bounds(der, offset);
  const out: Buffer[] = [];
  for (let at = start; at < end; ) {
    const b = bounds(der, at);
    out.push(der.subarray(at, b.end));
    at = b.end;
  }
  return out;
}

function bounds(der: Buffer, offset: number): { start: number; end: number } {
  const first = der[offset + 1]!;
  if (first < 0x80) return { start: offset + 2, end: offset + 2 + first };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[offset + 2 + i]!;
  return { start: offset + 2 + count, end: offset + 2 + count + length };
}
