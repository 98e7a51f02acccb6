// A throwaway certificate authority for tests and benchmarks (test/processes/tls-everywhere.test.ts, bench/tls/), made at test time with the openssl CLI: a CA and
// leaf certificates (server and client use, SAN IP:127.0.0.1 and DNS:localhost) in a temp dir.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestCa {
  dir: string;
  caCert: string;
  caKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (EC P-256, one day) whose files are `<name>-ca.pem` and `<name>-ca.key` under dir. */
export function makeCa(dir: string, name: string): TestCa {
  const caKey = path.join(dir, `${name}-ca.key`);
  const caCert = path.join(dir, `${name}-ca.pem`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      caKey,
      '-out',
      caCert,
      '-days',
      '1',
      '-subj',
      `/CN=${name} test CA`,
    ]),
    dir,
  );
  return { dir, caCert, caKey };
}

/** A leaf certificate signed by `ca` for 127.0.0.1 and localhost, usable by servers and clients. */
export function makeLeaf(ca: TestCa, name: string): { cert: string; key: string } {
  const key = path.join(ca.dir, `${name}.key`);
  const csr = path.join(ca.dir, `${name}.csr`);
  const cert = path.join(ca.dir, `${name}.pem`);
  const ext = path.join(ca.dir, `${name}.ext`);
  writeFileSync(
    ext,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${name}`,
    ]),
    ca.dir,
  );
  openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey, '-CAcreateserial'].concat([
      '-out',
      cert,
      '-days',
      '1',
      '-extfile',
      ext,
    ]),
    ca.dir,
  );
  return { cert, key };
}
