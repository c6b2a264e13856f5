import type { Buffer } from 'node:buffer';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isPeerpostError, PeerpostError } from '../errors.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { type ConfigChange, diffConfig, liveConfig } from './diff.js';
import { ConfigError } from './issues.js';
import { type LoadedNodeConfig, loadNodeConfig } from './load.js';

/** What one reload did. */
export type ReloadResult =
  | { readonly kind: 'changed'; readonly config: LoadedNodeConfig; readonly changes: readonly ConfigChange[] }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'invalid'; readonly error: PeerpostError };

export interface ConfigWatcherOptions {
  /** The config file. */
  path: string;
  /** The config the node runs with now (from `loadNodeConfig(path)`). */
  initial: LoadedNodeConfig;
  /**
   * A reload found changes. `config` is the new running config: keys that need a restart
   * keep their running values (their changes are listed with `needsRestart: true`).
   * The reload waits for a returned promise; a rejection rejects the reload, like a throw.
   */
  onChange(config: LoadedNodeConfig, changes: readonly ConfigChange[]): void | Promise<void>;
  /**
   * A reload failed (invalid or unreadable file, or `onChange` threw to reject it): the
   * running config is kept, and the next reload is compared with it.
   */
  onError(error: PeerpostError): void;
  /** A reload found the files valid and nothing to change (e.g. a fix that restores the running config). */
  onUnchanged?(): void;
  /** @default systemClock */
  clock?: Clock;
  /** Quiet time after the last file event before reloading (editors write in bursts). @default 100 */
  debounceMs?: number;
}

function watchedFiles(config: LoadedNodeConfig, path: string): string[] {
  const files = [path, config.credentials.keyFile, config.credentials.certFile];
  if (config.topologyFile !== undefined) files.push(config.topologyFile);
  return files;
}

/**
 * Watches a node's config file and the files it names (topology, credentials) and
 * reloads on change: parse -> diff -> `onChange`, or `onError` keeping the old config.
 * Directories are watched rather than files, so editors that save by writing a new file
 * and renaming it over the old one are seen. Call {@link reload} on SIGHUP.
 */
export class ConfigWatcher {
  readonly #options: ConfigWatcherOptions;
  readonly #clock: Clock;
  readonly #debounceMs: number;
  #current: LoadedNodeConfig;
  #watchers: FSWatcher[] = [];
  #watchedKey = '';
  #timer: TimerHandle | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ConfigWatcherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#current = options.initial;
    this.#watch();
  }

  /** The running config. */
  get current(): LoadedNodeConfig {
    return this.#current;
  }

  /** Reloads now (SIGHUP). Reloads never overlap: a second call waits for the first. */
  reload(): Promise<ReloadResult> {
    if (this.#closed) return Promise.reject(new PeerpostError('ERR_CLOSED', 'config watcher is closed'));
    const run = this.#chain.then(() => this.#reload());
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Stops watching; resolves when watchers and timers are gone and no reload is running. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwatch();
    await this.#chain;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #reload(): Promise<ReloadResult> {
    if (this.#closed) return { kind: 'unchanged' };
    let loaded: LoadedNodeConfig;
    try {
      loaded = await loadNodeConfig(this.#options.path);
    } catch (err) {
      const error = isPeerpostError(err)
        ? err
        : new ConfigError([
            { file: this.#options.path, path: '', line: undefined, column: undefined, message: String(err) },
          ]);
      if (!this.#closed) this.#options.onError(error);
      return { kind: 'invalid', error };
    }
    if (this.#closed) return { kind: 'unchanged' };
    const changes = diffConfig(this.#current, loaded);
    if (changes.length === 0) {
      this.#options.onUnchanged?.();
      return { kind: 'unchanged' };
    }
    const config = liveConfig(this.#current, loaded);
    try {
      const applying = this.#options.onChange(config, changes);
      // Awaited only when it is a promise: a synchronous onChange sees `current` updated at once.
      if (applying !== undefined) await applying;
    } catch (err) {
      // Rejected while applying (e.g. a key that does not match its certificate): the
      // running configuration stays the one to compare the next reload with.
      const error = new PeerpostError(
        'ERR_INVALID_CONFIG',
        `applying the new configuration failed: ${(err as Error).message}`,
        { cause: err },
      );
      this.#options.onError(error);
      return { kind: 'invalid', error };
    }
    this.#current = config;
    this.#watch();
    return { kind: 'changed', config, changes };
  }

  #onEvent(names: ReadonlySet<string>, filename: string | Buffer | null): void {
    if (this.#closed) return;
    // Some platforms do not report the name: reload to be safe.
    if (filename !== null && !names.has(filename.toString())) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.reload().catch(() => {});
    }, this.#debounceMs);
  }

  /** (Re)creates the directory watchers when the set of watched files changed. */
  #watch(): void {
    const files = watchedFiles(this.#current, this.#options.path);
    const key = files.join('\n');
    if (key === this.#watchedKey) return;
    this.#unwatch();
    this.#watchedKey = key;
    const byDir = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = dirname(file);
      const names = byDir.get(dir) ?? new Set<string>();
      names.add(basename(file));
      byDir.set(dir, names);
    }
    for (const [dir, names] of byDir) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, filename) =>
          this.#onEvent(names, filename),
        );
        watcher.on('error', (err) => this.#watchFailed(dir, err));
        this.#watchers.push(watcher);
      } catch (err) {
        this.#watchFailed(dir, err);
      }
    }
  }

  #watchFailed(dir: string, err: unknown): void {
    if (this.#closed) return;
    const message = `cannot watch ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; reload with SIGHUP`;
    this.#options.onError(
      new ConfigError([{ file: this.#options.path, path: '', line: undefined, column: undefined, message }], {
        cause: err,
      }),
    );
  }

  #unwatch(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    this.#watchedKey = '';
  }
}
