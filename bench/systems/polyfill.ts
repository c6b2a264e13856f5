/**
 * libp2p 3 calls `Promise.withResolvers` (Node >= 22). Node 20 lacks it: the bench (and
 * only the bench) adds it before loading libp2p.
 */
interface WithResolvers {
  withResolvers?<T>(): {
    promise: Promise<T>;
    resolve: (value: T) => void;
    reject: (reason?: unknown) => void;
  };
}

export function polyfillPromiseWithResolvers(): void {
  const P = Promise as unknown as WithResolvers;
  if (typeof P.withResolvers === 'function') return;
  P.withResolvers = <T>() => {
    let resolve!: (value: T) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
