import type { DemoReport } from './report.js';

function sum(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function reasons(counts: Readonly<Record<string, number>>): string {
  const total = sum(counts);
  if (total === 0) return '0';
  const parts = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`);
  return `${total} (${parts.join(', ')})`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n');
}

/** The end-of-run table printed by `peerpost demo`. */
export function formatReport(r: DemoReport): string {
  const rows: string[][] = [
    ['phase', 'sent', 'written', 'delivered', 'dropped', 'skipped', 'p50 ms', 'p99 ms', 's'],
  ];
  type Counts = Pick<
    typeof r,
    'sent' | 'written' | 'delivered' | 'dropped' | 'skipped' | 'latencyMs' | 'seconds'
  >;
  const row = (name: string, c: Counts): string[] => [
    name,
    String(c.sent),
    String(c.written),
    String(c.delivered),
    String(sum(c.dropped)),
    String(sum(c.skipped)),
    String(c.latencyMs.p50),
    String(c.latencyMs.p99),
    c.seconds.toFixed(2),
  ];
  r.phases.forEach((p, i) => {
    rows.push(row(`${i + 1} ${p.name}`, p));
  });
  rows.push(row('total', r));
  const k = r.sentByKind;
  const lines: [string, string][] = [
    [
      'messages sent',
      `${r.sent} (direct ${k.direct}, questions ${k.question}, replies ${k.reply}, broadcasts ${k.broadcast})`,
    ],
    ['written (per target)', String(r.written)],
    ['delivered to apps', String(r.delivered)],
    ['deduplicated', `${r.deduplicated} (second copies in send mode both)`],
    ['dropped', reasons(r.dropped)],
    ['skipped', reasons(r.skipped)],
    [
      'copies written',
      `${r.copiesWritten} = delivered ${r.delivered} + deduplicated ${r.deduplicated} + lost after write ${r.lostAfterWrite}`,
    ],
    ['throughput', `${r.throughput.sentPerSecond} sent/s, ${r.throughput.deliveredPerSecond} delivered/s`],
    ['latency', `p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`],
    ['send modes', r.sendModes.join(' -> ') || '-'],
  ];
  if (r.move) {
    lines.push([
      'topology move',
      `${r.move.node} ${r.move.from} -> ${r.move.to} (${r.move.deliveredAtNewAddress} delivered at the new address)`,
    ]);
  }
  if (r.restart) {
    const s = r.restart;
    lines.push([
      'restart',
      `${s.node} on ${s.address}, down ${s.downSeconds.toFixed(2)} s: ${s.sentWhileDown} sent while down, ` +
        `${s.deliveredAfterRestart} delivered after; senders waiting ${s.sendersWaiting}, ` +
        `reconnected ${s.sendersReconnected}; subscriptions reconnected ${s.subscriptionsReconnected}`,
    ]);
  }
  const width = Math.max(...lines.map(([key]) => key.length));
  const verdict = r.ok
    ? 'balance OK: every message has an outcome and every written copy is accounted for'
    : `NOT BALANCED:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`;
  return [
    `peerpost demo: ${r.nodes} nodes, seed ${r.seed}, ${r.seconds.toFixed(2)} s`,
    '',
    table(rows),
    '',
    ...lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`),
    '',
    verdict,
    '',
  ].join('\n');
}
