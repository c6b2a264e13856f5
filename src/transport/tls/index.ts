/** The mutual-TLS transport. */
export { DEFAULT_MAX_CONNECTIONS, TlsListener } from './tls-listener.js';
export { TlsTransport, type TlsTransportOptions } from './tls-transport.js';
