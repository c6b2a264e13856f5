import type { SecureContext } from 'node:tls';
import type { TrustSet } from '../../identity/trust.js';
import type { Metrics } from '../../metrics/types.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { WarnLimiter } from '../../util/warn-limiter.js';
import type { TransportLimits } from '../types.js';

/** What a transport shares with its listeners; read at each handshake, so replacements apply to new ones. */
export interface TlsShared {
  readonly secureContext: SecureContext;
  readonly trust: TrustSet;
  readonly limits: Required<TransportLimits>;
  readonly keepAliveDelayMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Warnings about refused and failed inbound connections, rate-limited per kind. */
  readonly warnings: WarnLimiter;
}
