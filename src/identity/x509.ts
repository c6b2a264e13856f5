// @peculiar/x509 reads decorator metadata at import time and needs a WebCrypto provider:
// this module is the only place that imports it, so the setup happens exactly once.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
