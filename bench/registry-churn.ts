/**
 * Churn writer for bench/registry.ts, in its own process so that its CPU is not counted
 * against the node being measured: every `1000 / rate` ms it registers one new peer
 * (a put under a lease of `ttl` seconds) and removes the one registered `live` steps
 * before (its lease revoked). Prints `done <registrations>` and exits after `seconds`.
 *
 *   tsx bench/registry-churn.ts ENDPOINT PREFIX RATE SECONDS
 */
import process from 'node:process';
import { Etcd3, type Lease } from 'etcd3';

const [endpoint, prefix, rateText, secondsText] = process.argv.slice(2);
if (endpoint === undefined || prefix === undefined || rateText === undefined || secondsText === undefined) {
  throw new Error('usage: registry-churn.ts ENDPOINT PREFIX RATE SECONDS');
}
const rate = Number(rateText);
const seconds = Number(secondsText);
const live = 20;
const client = new Etcd3({ hosts: [endpoint] });
const leases: Lease[] = [];
let registered = 0;
const started = performance.now();
const end = started + seconds * 1000;
let next = started;
while (performance.now() < end) {
  const i = registered++;
  const lease = client.lease(10);
  await lease
    .put(`${prefix}churn-${i}`)
    .value(JSON.stringify({ v: 1, addresses: [{ address: `127.0.0.1:${20000 + (i % 40000)}` }] }));
  leases.push(lease);
  if (leases.length > live) await leases.shift()!.revoke();
  next += 1000 / rate;
  const wait = next - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
await Promise.all(leases.map((l) => l.revoke()));
client.close();
process.stdout.write(`done ${registered}\n`);
