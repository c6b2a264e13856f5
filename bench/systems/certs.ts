/**
 * Self-signed Ed25519 certificates for the TLS baselines, made once per process with the
 * `openssl` CLI in a temporary directory (removed at once; the PEM stays in memory).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  key: string;
  cert: string;
  /** SHA-256 fingerprint as node:tls reports it (`AA:BB:...`). */
  fingerprint256: string;
}

function make(name: string): Credentials {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-bench-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ed25519',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
      ],
      { stdio: 'ignore' },
    );
    const certPem = readFileSync(cert, 'utf8');
    return {
      key: readFileSync(key, 'utf8'),
      cert: certPem,
      fingerprint256: new X509Certificate(certPem).fingerprint256,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let pair: { server: Credentials; client: Credentials } | undefined;

/** The server's and the client's credentials (generated on first use). */
export function benchCredentials(): { server: Credentials; client: Credentials } {
  pair ??= { server: make('bench-server'), client: make('bench-client') };
  return pair;
}
