export { formatReport } from './format.js';
export { DEFAULT_MESSAGES, type DemoOptions, MAX_NODES, resolveDemoOptions } from './options.js';
export { PHASES, type PhaseName, type PhaseSpec, planContext, type Step, segmentSteps } from './plan.js';
export { lineProgress, type ProgressSink, type ProgressSnapshot, terminalProgress } from './progress.js';
export {
  type Balance,
  type BalanceInput,
  checkBalance,
  type DemoReport,
  type MoveEvent,
  type PhaseReport,
  percentile,
  type RestartEvent,
} from './report.js';
export { runDemo } from './run.js';
