/**
 * Renders a `/status` document as text for `peerpost status`. The document comes over
 * HTTP, so nothing in it is trusted: every field is read defensively, strings are
 * stripped of control characters and lists are cut to a bounded length.
 */

const MAX_ROWS = 50;
const MAX_TEXT = 120;

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function text(v: unknown, fallback = '-'): string {
  if (v === undefined || v === null) return fallback;
  const s =
    typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : fallback;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT - 3)}...` : clean;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function counts(v: unknown): string {
  const entries = Object.entries(obj(v))
    .filter(([, n]) => typeof n === 'number')
    .slice(0, MAX_ROWS);
  if (entries.length === 0) return 'none';
  return entries.map(([k, n]) => `${text(k)}=${num(n)}`).join(' ');
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function more(all: unknown[], out: string[]): void {
  if (all.length > MAX_ROWS) out.push(`  ... ${all.length - MAX_ROWS} more`);
}

/**
 * The backoff column of an address. Only failures read as one: a first connect (attempt 1)
 * is shown as `-`, and a sender that has not tried yet (attempt 0) but waits out a backoff
 * remembered from an earlier sender says so, rather than "attempt 0".
 */
function backoffText(addr: Json, now: number): string {
  const attempt = typeof addr.attempt === 'number' && Number.isFinite(addr.attempt) ? addr.attempt : 0;
  const retry = addr.retryAt === undefined ? undefined : `retry in ${Math.max(0, num(addr.retryAt) - now)}ms`;
  if (attempt <= 0) return retry === undefined ? '-' : `${retry} (earlier failures)`;
  if (addr.state === 'connecting') return attempt === 1 ? '-' : `retrying, attempt ${attempt}`;
  const failed = `${attempt} failed attempt${attempt === 1 ? '' : 's'}`;
  return retry === undefined ? failed : `${failed}, ${retry}`;
}

/** A readable summary of a node's `/status` JSON. */
export function formatStatus(status: unknown): string {
  const s = obj(status);
  const id = obj(s.identity);
  const now = num(s.nowMs);
  const out: string[] = [];
  out.push(`node       ${text(s.nodeId)} (identity ${text(id.shortId)}, ${text(id.certHash)})`);
  out.push(`listening  ${text(s.address)}   admin ${text(s.admin)}   ready ${text(s.ready)}`);
  out.push(`send mode  ${text(s.directSendMode)}   uptime ${Math.round((now - num(s.startedAtMs)) / 1000)}s`);
  if (typeof s.registry === 'object' && s.registry !== null && !Array.isArray(s.registry)) {
    const r = obj(s.registry);
    out.push(
      `registry   ${text(r.state)}, ${r.registered === true ? 'registered' : 'not registered'}, revision ${num(r.revision)}, ${num(r.entries)} entries`,
      `           watch restarts ${num(r.watchRestarts)}, re-registrations ${num(r.reRegistrations)}, ignored entries ${num(r.ignoredEntries)}, errors ${num(r.errors)}`,
    );
    if (r.lastError !== undefined) out.push(`           last error: ${text(r.lastError)}`);
  }

  const peers = list(s.peers);
  out.push('', `peers (${peers.length})`);
  const rows: string[][] = [['  peer', 'address', 'pinned', 'state', 'queue', 'unacked', 'backoff']];
  for (const p of peers.slice(0, MAX_ROWS)) {
    const peer = obj(p);
    if (list(peer.addresses).length === 0)
      rows.push([`  ${text(peer.peerId)}`, '(no address)', '-', '-', '0', '-', '-']);
    for (const a of list(peer.addresses).slice(0, MAX_ROWS)) {
      const addr = obj(a);
      rows.push([
        `  ${text(peer.peerId)}`,
        `${text(addr.address)}${addr.inTopology === false ? ' (removed)' : ''}`,
        text(addr.pinned),
        text(addr.state),
        String(num(addr.queueDepth) + num(addr.unflushed)),
        String(num(addr.unacked)),
        backoffText(addr, now),
      ]);
    }
  }
  if (rows.length > 1) out.push(...table(rows));
  more(peers, out);

  const inbound = list(s.inbound);
  out.push('', `inbound connections (${inbound.length})`);
  const inRows: string[][] = [['  from', 'kind', 'peer', 'identity', 'queue', 'drops']];
  for (const c of inbound.slice(0, MAX_ROWS)) {
    const conn = obj(c);
    inRows.push([
      `  ${text(conn.remoteAddress)}`,
      text(conn.kind),
      text(conn.peerId),
      text(conn.shortId),
      String(num(conn.queueDepth)),
      `${num(conn.drops)}${conn.closing === true ? ' (closing)' : ''}`,
    ]);
  }
  if (inRows.length > 1) out.push(...table(inRows));
  more(inbound, out);

  const subs = list(s.subscriptions);
  if (subs.length > 0) {
    out.push('', `subscriptions (${subs.length})`);
    const subRows: string[][] = [['  to', 'kind', 'peer', 'state', 'received']];
    for (const x of subs.slice(0, MAX_ROWS)) {
      const sub = obj(x);
      subRows.push([
        `  ${text(sub.address)}`,
        text(sub.kind),
        text(sub.peerId),
        text(sub.state),
        String(num(sub.received)),
      ]);
    }
    out.push(...table(subRows));
    more(subs, out);
  }

  const q = obj(s.queues);
  out.push(
    '',
    `queues     unresolved=${num(q.unresolved)} peer-senders=${num(q.peerSenders)} subscribers=${num(q.subscribers)} replies=${num(q.replies)} incoming=${num(q.incoming)}`,
  );
  const b = obj(s.backoff);
  out.push(`backoff    ${list(b.senders).length} sender(s) in backoff, ${num(b.entries)} remembered`);
  out.push(`outcomes   ${counts(s.outcomes)}`);
  const drops = obj(s.drops);
  out.push(`drops      recent: ${counts(drops.recentByReason)}   total: ${counts(drops.totalByReason)}`);
  for (const d of list(drops.recent).slice(0, 10)) {
    const drop = obj(d);
    out.push(
      `  ${text(drop.reason)}  ${text(drop.label)} ${text(drop.messageId)} -> ${text(drop.receiver)} (${text(drop.address)}) ${Math.max(0, now - num(drop.atMs))}ms ago`,
    );
  }
  return `${out.join('\n')}\n`;
}
