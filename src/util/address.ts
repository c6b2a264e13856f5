import { isIP } from 'node:net';
import { PeerpostError } from '../errors.js';

/** A socket address split into its parts. IPv6 hosts are kept without brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Why `text` is not a valid `host:port`, or undefined when it is. IPv6 hosts must be in
 * brackets (`[::1]:7000`). `allowPortZero` accepts port 0 (listen on any free port).
 */
export function addressProblem(text: string, allowPortZero = false): string | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return 'expected host:port';
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return 'expected host:port';
    host = host.slice(1, -1);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else if (host.includes(':')) {
    return 'IPv6 hosts must be in brackets, e.g. [::1]:7000';
  } else if (isIP(host) === 0 && !HOSTNAME.test(host)) {
    return `"${host}" is not a valid host name or IP address`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `port "${portText}" is not a number`;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) {
    return `port ${port} is out of range (${allowPortZero ? 0 : 1}-65535)`;
  }
  return undefined;
}

/** Splits `host:port`; throws `ERR_INVALID_ADDRESS` when it is not one. */
export function parseHostPort(text: string, allowPortZero = true): HostPort {
  const problem = addressProblem(text, allowPortZero);
  if (problem !== undefined) {
    throw new PeerpostError('ERR_INVALID_ADDRESS', `invalid address "${text}": ${problem}`);
  }
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: Number(text.slice(colon + 1)),
  };
}

/** Joins a host and a port, bracketing IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
