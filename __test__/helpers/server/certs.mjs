// Throwaway certificates made with the openssl command line, in a temporary
// directory, for TLS tests against real servers.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: `<name>.crt`, `<name>.key`. */
function authority(dir, name, subject) {
  openssl(dir, ['req', '-x509', ...EC, '-days', '2', '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

/** `<name>.crt` for `subject`, with extensions `ext`, signed by CA `ca`. */
function issue(dir, name, ca, subject, ext) {
  openssl(dir, ['req', '-new', ...EC, '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

/** `<name>.crt` as PostgreSQL's documentation makes client certificates:
 *  `openssl x509 -req` with no extensions file, which is X.509 version 1. */
function issueV1(dir, name, ca, subject) {
  openssl(dir, ['req', '-new', ...EC, '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '2', '-out', `${name}.crt`]);
}

/**
 * Every certificate the connection tests use; returns { dir, file(name), pem(name), remove() }.
 * - `ca`, `wrong-ca`: CAs; `server`: signed by `ca`, for DNS name localhost only
 *   (so 127.0.0.1 is the wrong host name);
 * - `selfsigned`: PostgreSQL's documented setup (`openssl req -x509 -subj /CN=localhost`):
 *   its own CA, no subjectAltName, the host name only in the CN;
 * - `client-ca`; `client` (CN=`user`), `client-other` (CN=someone_else) signed by it;
 *   `client-stranger` (CN=`user`) signed by `wrong-ca`; `client-v1` (CN=`user`),
 *   X.509 version 1, made as PostgreSQL's documentation makes them;
 *   `client-encrypted.key`: `client.key` under a passphrase;
 *   `not-a-cert.pem`: text that holds no certificate.
 */
export function makeCertificates(user) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-certs-'));
  authority(dir, 'ca', 'keyrotate test CA');
  authority(dir, 'wrong-ca', 'some other CA');
  authority(dir, 'client-ca', 'keyrotate client CA');
  issue(dir, 'server', 'ca', 'localhost', ['subjectAltName=DNS:localhost', 'extendedKeyUsage=serverAuth', 'basicConstraints=CA:FALSE']);
  openssl(dir, ['req', '-new', '-x509', '-days', '2', ...EC, '-text', '-subj', '/CN=localhost', '-keyout', 'selfsigned.key', '-out', 'selfsigned.crt']);
  const clientExt = ['extendedKeyUsage=clientAuth', 'basicConstraints=CA:FALSE'];
  issue(dir, 'client', 'client-ca', user, clientExt);
  issue(dir, 'client-other', 'client-ca', 'someone_else', clientExt);
  issue(dir, 'client-stranger', 'wrong-ca', user, clientExt);
  issueV1(dir, 'client-v1', 'client-ca', user);
  openssl(dir, ['pkey', '-in', 'client.key', '-aes256', '-passout', 'pass:a passphrase', '-out', 'client-encrypted.key']);
  fs.writeFileSync(path.join(dir, 'not-a-cert.pem'), 'this file holds no certificate\n');
  return {
    dir,
    file: (name) => path.join(dir, name),
    pem: (name) => fs.readFileSync(path.join(dir, name), 'utf8'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
