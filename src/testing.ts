/** Test helpers for applications built on peerpost: `import { ... } from 'peerpost/testing'`. */
export { FakeClock, settle } from './util/fake-clock.js';
