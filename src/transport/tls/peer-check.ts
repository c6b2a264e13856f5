import type { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { type ErrorCode, PeerpostError } from '../../errors.js';
import { type Credentials, validateCredentials } from '../../identity/credentials.js';
import { identityOfCertificate, matchesExpected } from '../../identity/peer-identity.js';
import type { TrustSet } from '../../identity/trust.js';
import {
  ACK_ALPN_BY_KIND,
  ALPN_BY_KIND,
  type ConnectionKind,
  type ExpectedIdentity,
  type RemoteIdentity,
} from '../types.js';

const KIND_BY_ALPN = new Map<string, ConnectionKind>([
  ...Object.entries(ALPN_BY_KIND).map(([kind, alpn]) => [alpn, kind as ConnectionKind] as const),
  ...Object.entries(ACK_ALPN_BY_KIND).map(([kind, alpn]) => [alpn, kind as ConnectionKind] as const),
]);
const ACK_ALPNS = new Set(Object.values(ACK_ALPN_BY_KIND));

/** A TLS 1.3-only context presenting `credentials` (used for both directions). */
export function secureContextOf(credentials: Credentials): SecureContext {
  validateCredentials(credentials);
  return createSecureContext({
    key: credentials.keyPem,
    cert: credentials.certPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  });
}

/**
 * Our own verification of a finished handshake (certificates are self-signed, so
 * OpenSSL's chain check is off): a certificate must be present, the negotiated ALPN must
 * name an accepted kind, and the certificate must pass the trust set and, for outbound
 * connections, the pinned identity.
 */
export function checkPeer(
  socket: TLSSocket,
  trust: TrustSet,
  accepted: ReadonlySet<ConnectionKind>,
  expected?: ExpectedIdentity,
  acks = false,
): { kind: ConnectionKind; identity: RemoteIdentity; acks: boolean } {
  const alpn = socket.alpnProtocol;
  const kind = typeof alpn === 'string' ? KIND_BY_ALPN.get(alpn) : undefined;
  const acked = typeof alpn === 'string' && ACK_ALPNS.has(alpn);
  if (kind === undefined || !accepted.has(kind) || (acked && !acks)) {
    throw new PeerpostError('ERR_ALPN_MISMATCH', `the peer negotiated ALPN ${JSON.stringify(alpn)}`);
  }
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) {
    throw new PeerpostError('ERR_NO_PEER_CERTIFICATE', 'the peer presented no certificate');
  }
  const identity = identityOf(cert.raw);
  if (!trust.isTrusted(identity)) {
    throw new PeerpostError('ERR_UNTRUSTED_PEER', `certificate ${identity.certHash} is not trusted`);
  }
  if (expected !== undefined && !matchesExpected(identity, expected)) {
    const want =
      'certHash' in expected ? `certificate ${expected.certHash}` : `owner key ${expected.ownerKey}`;
    throw new PeerpostError(
      'ERR_IDENTITY_MISMATCH',
      `expected ${want}, the peer is ${identity.certHash} (owners: ${identity.ownerKeys.join(',') || 'none'})`,
    );
  }
  return { kind, identity, acks: acked };
}

/** Most certificates whose identities are remembered (oldest forgotten first). */
export const IDENTITY_CACHE_SIZE = 1024;
const identities = new Map<string, RemoteIdentity>();

/**
 * The identity of a certificate, shared by every connection that presents it: one object
 * (and one set of strings) per certificate instead of per connection, and the
 * certificate is parsed for owner keys once, not at every handshake. An identity depends
 * only on the DER, which its SHA-256 names; the objects are frozen.
 */
export function identityOf(der: Buffer): RemoteIdentity {
  const certHash = createHash('sha256').update(der).digest('hex');
  const known = identities.get(certHash);
  if (known !== undefined) return known;
  const fresh = identityOfCertificate(der);
  Object.freeze(fresh.ownerKeys);
  const identity = Object.freeze(fresh);
  if (identities.size >= IDENTITY_CACHE_SIZE) {
    identities.delete(identities.keys().next().value as string);
  }
  identities.set(certHash, identity);
  return identity;
}

const ALERT_CODES: Readonly<Record<string, ErrorCode>> = {
  ERR_SSL_NO_APPLICATION_PROTOCOL: 'ERR_ALPN_MISMATCH',
  ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: 'ERR_ALPN_MISMATCH',
  ECONNREFUSED: 'ERR_CONNECT_REFUSED',
  ECONNRESET: 'ERR_CONNECTION_RESET',
  EPIPE: 'ERR_CONNECTION_RESET',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'ERR_HANDSHAKE_TIMEOUT',
};

/** Maps a socket or OpenSSL error raised before the handshake finished to a coded error. */
export function handshakeError(err: unknown, during: string): PeerpostError {
  if (err instanceof PeerpostError) return err;
  const sysCode = (err as { code?: string }).code ?? '';
  const code: ErrorCode =
    ALERT_CODES[sysCode] ?? (sysCode.startsWith('ERR_SSL') ? 'ERR_HANDSHAKE_FAILED' : 'ERR_CONNECT_FAILED');
  const text = (err as Error).message ?? '';
  // OpenSSL's words for a peer that offers only TLS 1.2 or older, or gets that alert back.
  if (
    /unsupported protocol|protocol version|wrong version number/i.test(text) ||
    /PROTOCOL_VERSION/.test(sysCode)
  ) {
    return new PeerpostError(
      code,
      `${during}: TLS protocol version refused (peerpost speaks TLS 1.3 only): ${text}`,
      { cause: err },
    );
  }
  return new PeerpostError(code, `${during}: ${text}`.trim(), { cause: err });
}
