// Realistic values for the fixture: ids, tokens, hashes and certificates in
// the shapes AnythingMCP and the services it talks to produce them.

import crypto from 'node:crypto';

let cuidCounter = crypto.randomInt(36 ** 4);

/** An id shaped like Prisma's cuid(): 25 chars, starts with "c", sorts by creation time. */
export function cuid() {
  cuidCounter = (cuidCounter + 1) % 36 ** 4;
  const random = BigInt('0x' + crypto.randomBytes(8).toString('hex')).toString(36).padStart(13, '0').slice(-12);
  return 'c' + Date.now().toString(36).padStart(8, '0') + cuidCounter.toString(36).padStart(4, '0') + random;
}

export const token = (bytes) => crypto.randomBytes(bytes).toString('base64url');
export const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');
/** Standard padded base64 of random bytes: what ciphertext looks like, without being one. */
export const base64 = (bytes) => crypto.randomBytes(bytes).toString('base64');
export const sha256Hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** A bcrypt hash's shape ($2b$, cost, 53 chars of bcrypt's base64). */
export function bcryptHash() {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(53);
  return '$2b$12$' + Array.from(bytes, (b) => alphabet[b % 64]).join('');
}

export function jwt(claims = {}) {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: hex(8) })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({ iss: 'https://login.example.com/', sub: cuid(), aud: 'api://crm', scp: 'read write', exp: 1767225600, ...claims }),
  ).toString('base64url');
  return `${header}.${payload}.${token(256)}`;
}

// A CA bundle of about `bytes` bytes: PEM blocks around DER-shaped bytes
// (ASN.1 SEQUENCE header), which is all a byte-exact round trip needs.
export function pemBundle(bytes) {
  const blocks = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const body = crypto.randomBytes(900 + ((i * 97) % 700));
    const der = Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
    blocks.push(pem);
    size += pem.length;
  }
  return blocks.join('');
}

export function privateKeyPem() {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
}

// Combining marks, ZWJ emoji sequences, astral-plane chars, CJK and RTL: the
// plaintext bytes must survive rotation exactly, without normalisation.
export const UNICODE_USER = 'Zoe\u0308.A\u030angstro\u0308m@例え.jp';
export const UNICODE_PASSWORD = '🔑パスワード密码🚀 e\u0301 👩🏽‍💻 كلمة‎ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{1F3F3}\u{FE0F}\u{200D}\u{1F308}';
