/**
 * The logging interface peerpost writes to: the subset of pino's API it uses, so a pino
 * logger can be passed as is. Logs carry ids, addresses and identity prefixes, never
 * message payloads.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const noopLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return noopLogger;
  },
};
