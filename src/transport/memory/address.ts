import { PeerpostError } from '../../errors.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` (IPv6 hosts in brackets); throws `ERR_INVALID_ADDRESS`. */
export function parseHostPort(address: string): HostPort {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) throw new PeerpostError('ERR_INVALID_ADDRESS', `expected host:port, got \`${address}\``);
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(portText);
  if (host.length === 0 || !/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new PeerpostError('ERR_INVALID_ADDRESS', `expected host:port, got \`${address}\``);
  }
  return { host, port };
}

/** Formats a host and port as an address, bracketing IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
