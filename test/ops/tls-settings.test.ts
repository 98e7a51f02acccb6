// The TLS settings shape and secret references: files relative to the config, environment
// variables, and errors that name the field and where the secret was looked for, never the secret.

import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hmacSecretOf } from '../../config/tls-config.js';
import { kafkaSecurity } from '../../events/kafka.js';
import { loadTlsMaterial, parseTlsSettings, readSecret, uwsTlsFiles } from '../../ops/tls-settings.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-tls-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n';
writeFileSync(path.join(dir, 'cert.pem'), 'CERT');
writeFileSync(path.join(dir, 'ca.pem'), 'CA');

describe('parseTlsSettings', () => {
  it('resolves files against the config directory and reads env secrets at load', () => {
    const s = parseTlsSettings(
      { cert: { file: 'cert.pem' }, key: { env: 'K' }, ca: { file: 'ca.pem' }, requireClientCert: true },
      'cluster config tls',
      dir,
    )!;
    expect(s.cert).toEqual({ file: path.join(dir, 'cert.pem') });
    const m = loadTlsMaterial(s, { K: SECRET });
    expect(m.key!.toString()).toBe(SECRET);
    expect(m.cert!.toString()).toBe('CERT');
    expect(m.requireClientCert).toBe(true);
  });

  it('refuses a PEM inline, unknown fields, half a key pair, mutual TLS without a CA', () => {
    const bad: [unknown, RegExp][] = [
      [{ cert: SECRET, key: { env: 'K' } }, /tls\.cert must be .* not the secret itself \(value not shown\)/],
      [{ cert: { file: 'a' }, key: { env: 'K' }, pem: 'x' }, /tls\.pem: unknown field/],
      [{ cert: { file: 'a' } }, /cert and key go together/],
      [{ cert: { file: 'a' }, key: { file: 'b' }, requireClientCert: true }, /requireClientCert needs ca/],
      [{ cert: { file: 'a', env: 'B' }, key: { file: 'b' } }, /exactly one of "file"/],
    ];
    for (const [v, re] of bad) {
      let msg = '';
      try {
        parseTlsSettings(v, 'x tls', dir);
      } catch (err) {
        msg = (err as Error).message;
      }
      expect(msg).toMatch(re);
      expect(msg).not.toContain('not-a-real-key');
    }
  });

  it('a missing file or variable is named, its content never shown', () => {
    expect(() => readSecret({ file: path.join(dir, 'nope.pem') }, 'gateway config tls.key')).toThrow(
      /gateway config tls\.key: cannot read .*nope\.pem: ENOENT/,
    );
    expect(() => readSecret({ env: 'MB_NOT_SET_X' }, 'q.tls.cert', {})).toThrow(
      /q\.tls\.cert: environment variable MB_NOT_SET_X is not set or empty/,
    );
  });

  it('uWS gets file names: env secrets are written 0600 under the data dir and removed at release', () => {
    const s = parseTlsSettings({ cert: { file: 'cert.pem' }, key: { env: 'K' } }, 't', dir)!;
    const files = uwsTlsFiles(s, path.join(dir, 'data'), { K: SECRET });
    expect(files.options.cert_file_name).toBe(path.join(dir, 'cert.pem'));
    const keyFile = files.options.key_file_name;
    expect(keyFile.startsWith(path.join(dir, 'data', 'tls'))).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    files.remove();
    expect(existsSync(keyFile)).toBe(false);
  });
});

describe('API secrets (hmacSecret)', () => {
  it('from a file (trailing newline dropped), from env, or plain (flagged as plain)', () => {
    writeFileSync(path.join(dir, 'h.txt'), 's3cret\n');
    expect(hmacSecretOf({ file: 'h.txt' }, 'k', dir)).toEqual({ secret: 's3cret', plain: false });
    process.env.MB_TLS_UNIT_HMAC = 'from-env';
    try {
      expect(hmacSecretOf({ env: 'MB_TLS_UNIT_HMAC' }, 'k', dir)).toEqual({ secret: 'from-env', plain: false });
    } finally {
      delete process.env.MB_TLS_UNIT_HMAC;
    }
    expect(hmacSecretOf('demo', 'k', dir)).toEqual({ secret: 'demo', plain: true });
  });
});

describe('kafkaSecurity (kafkajs ssl and sasl from the environment)', () => {
  it('nothing set: no ssl, no sasl (the embedded broker)', () => {
    expect(kafkaSecurity({})).toEqual({});
  });

  it('CA, client certificate and SCRAM from files and env', () => {
    writeFileSync(path.join(dir, 'kpass'), 'pw\n');
    const sec = kafkaSecurity({
      KAFKA_SSL_CA_FILE: path.join(dir, 'ca.pem'),
      KAFKA_SSL_CERT_FILE: path.join(dir, 'cert.pem'),
      KAFKA_SSL_KEY_FILE: path.join(dir, 'cert.pem'),
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD_FILE: path.join(dir, 'kpass'),
    });
    expect(sec.ssl!.ca!.map((b) => b.toString())).toEqual(['CA']);
    expect(sec.ssl!.cert!.toString()).toBe('CERT');
    expect(sec.ssl!.rejectUnauthorized).toBe(true);
    expect(sec.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'pw' });
    expect(kafkaSecurity({ KAFKA_SSL: '1' }).ssl).toEqual({ rejectUnauthorized: true });
  });

  it('incomplete or unknown settings are refused by name, never echoing a password', () => {
    expect(() => kafkaSecurity({ KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/KAFKA_SASL_MECHANISM must be one of/);
    expect(() => kafkaSecurity({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' })).toThrow(
      /KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD is not set/,
    );
    expect(() => kafkaSecurity({ KAFKA_SSL_CERT_FILE: path.join(dir, 'cert.pem') })).toThrow(/go together/);
  });
});
