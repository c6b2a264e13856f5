/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`), e.g. of the
 * sending process of the two-process benchmark:
 *
 *   npx tsx bench/two-process.ts --only=peerpost --sizes=64B --profile-senders=/tmp/prof
 *   npx tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile [top=25]
 *
 * Each file named is summarized in turn: under `--import tsx` a run writes two profiles,
 * the main thread's and the (small) one of tsx's loader thread. The top count is the
 * argument that is a number, wherever it is.
 *
 * Prints one line per function (name, file, % of the busy samples, ms), the GC
 * pseudo-frame included and idle left out, then the share by origin (src/ vs node
 * internals vs the bench). Use `--rounds=10` or so, so that start-up (module loading)
 * is a small part of the profile.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const files = args.filter((a) => !/^\d+$/.test(a));
if (files.length === 0) {
  console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile>... [top]');
  process.exit(2);
}
const top = Number(args.find((a) => /^\d+$/.test(a)) ?? 25);
for (const file of files) summarize(file);

function summarize(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));

  /** Self time per node: the time deltas of the samples that hit it. */
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const short = (url: string) => {
    const at = url.indexOf('/work/main/');
    return at >= 0 ? url.slice(at + '/work/main/'.length) : url.replace(/^file:\/\//, '');
  };
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    // Under tsx every function reports line 1: the file is enough.
    const where = f.url ? short(f.url) : '';
    const key = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const group = !f.url
      ? f.functionName.startsWith('(')
        ? f.functionName
        : '(native)'
      : f.url.includes('/src/')
        ? 'src/'
        : f.url.includes('/bench/')
          ? 'bench/'
          : f.url.startsWith('node:')
            ? 'node internals'
            : 'other';
    files.set(group, (files.get(group) ?? 0) + us);
  }

  const idle = [...fns].filter(([k]) => k === '(idle)').reduce((a, [, us]) => a + us, 0);
  const busy = total - idle;
  /** Shares are of the busy samples (idle left out). */
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  console.log(
    `${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (shares below: of busy)\n`,
  );
  console.log('| self | ms | function |');
  console.log('| --- | --- | --- |');
  for (const [k, us] of [...fns]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    console.log(`| ${pct(us)} | ${(us / 1000).toFixed(0)} | ${k} |`);
  console.log('\nby origin:');
  for (const [k, us] of [...files].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]))
    console.log(`  ${k}: ${pct(us)}`);
  console.log();
}
