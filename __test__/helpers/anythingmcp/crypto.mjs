// AnythingMCP's own encryption, line for line as in
// packages/backend/src/common/crypto/encryption.util.ts (HelpCode-ai/anythingmcp),
// so compatibility tests compare the addon with the code that actually wrote
// the data, not with a re-interpretation of it. Keep it that way: quirks such
// as the key truncation, the 16-byte IV, lenient base64 decoding and the
// Buffer + string concatenation on decrypt are part of what is being tested.
//
// `aad` is the optional third argument of the current upstream file (v0.1.20
// has none): the newer locations are sealed with one (env_vars, identity
// providers, OAuth attempts, alert webhooks; docs/locations.md gives each
// AAD), connector credentials and cached login tokens without.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const IV_LENGTH = 16;
const TAG_LENGTH = 16;

/** Seal `plaintext` under `encryptionKey`: base64(iv || ciphertext || tag). */
export function encrypt(plaintext, encryptionKey, aad) {
  const key = Buffer.from(encryptionKey, 'utf-8').subarray(0, 32);
  const iv = randomBytes(IV_LENGTH);

  const cipher = createCipheriv(ALGORITHM, key, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf-8'));
  const encrypted = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();

  return Buffer.concat([iv, encrypted, tag]).toString('base64');
}

/** Open a value sealed by encrypt(); throws when the key (or AAD) is wrong. */
export function decrypt(ciphertext, encryptionKey, aad) {
  const key = Buffer.from(encryptionKey, 'utf-8').subarray(0, 32);
  const data = Buffer.from(ciphertext, 'base64');

  const iv = data.subarray(0, IV_LENGTH);
  const tag = data.subarray(data.length - TAG_LENGTH);
  const encrypted = data.subarray(IV_LENGTH, data.length - TAG_LENGTH);

  const decipher = createDecipheriv(ALGORITHM, key, iv);
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf-8'));
  decipher.setAuthTag(tag);

  return decipher.update(encrypted) + decipher.final('utf8');
}

/** A key as the docs tell operators to make one: `openssl rand -base64 48`. */
export function generateKey() {
  return randomBytes(48).toString('base64');
}
