import type { Clock } from '../util/clock.js';
import type { PhaseReport } from './report.js';

/** Live numbers of the run, passed to {@link ProgressSink.update}. */
export interface ProgressSnapshot {
  readonly phase: number;
  readonly phases: number;
  readonly phaseName: string;
  readonly sent: number;
  /** The message budget; Infinity when only a duration bounds the run. */
  readonly budget: number;
  readonly delivered: number;
  readonly dropped: number;
  readonly waiting: number;
}

/** Where the demo reports progress. */
export interface ProgressSink {
  phaseStarted(index: number, total: number, name: string, title: string): void;
  /** Something happened (a mode switch, a move, a restart). */
  note(text: string): void;
  /** Called often; a sink redraws at its own pace. */
  update(snapshot: ProgressSnapshot): void;
  phaseDone(index: number, report: PhaseReport): void;
  /** The run is over: clear any live line. */
  end(): void;
}

interface Out {
  write(chunk: string): unknown;
}

function phaseLine(index: number, r: PhaseReport): string {
  const dropped = Object.values(r.dropped).reduce((a, b) => a + b, 0);
  return (
    `phase ${index + 1} ${r.name}: sent ${r.sent}, written ${r.written}, delivered ${r.delivered}, ` +
    `dropped ${dropped}, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms (${r.seconds.toFixed(2)} s)\n`
  );
}

/** Plain lines: one when a phase starts, one per event, one when a phase ends. */
export function lineProgress(out: Out): ProgressSink {
  return {
    phaseStarted: (i, total, name, title) => out.write(`phase ${i + 1}/${total} ${name}: ${title}\n`),
    note: (text) => out.write(`  ${text}\n`),
    update: () => {},
    phaseDone: (i, r) => out.write(phaseLine(i, r)),
    end: () => {},
  };
}

const BAR = 24;
const REDRAW_MS = 80;

/** A live line on a terminal: phase, a progress bar and counters, redrawn at most every 80 ms. */
export function terminalProgress(out: Out, clock: Clock): ProgressSink {
  let lastDraw = 0;
  let live = false;
  const clear = (): void => {
    if (live) out.write('\r\x1b[2K');
    live = false;
  };
  return {
    phaseStarted: (i, total, name, title) => {
      clear();
      out.write(`\x1b[1mphase ${i + 1}/${total} ${name}\x1b[0m: ${title}\n`);
    },
    note: (text) => {
      clear();
      out.write(`  ${text}\n`);
    },
    update: (s) => {
      const now = clock.now();
      if (now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      const bounded = Number.isFinite(s.budget) && s.budget > 0;
      const done = bounded ? Math.min(1, s.sent / s.budget) : 0;
      const filled = Math.round(done * BAR);
      const bar = bounded
        ? `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${Math.floor(done * 100)}% `
        : '';
      out.write(
        `\r\x1b[2K${bar}${s.phaseName}: sent ${s.sent}${bounded ? `/${s.budget}` : ''} ` +
          `delivered ${s.delivered} dropped ${s.dropped} waiting ${s.waiting}`,
      );
      live = true;
    },
    phaseDone: (i, r) => {
      clear();
      out.write(phaseLine(i, r));
    },
    end: clear,
  };
}
