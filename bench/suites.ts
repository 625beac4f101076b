/** Every bench suite `npx fusionrank bench <suite>` can run. */
import type { Suite } from './harness.js';

export const suites: Record<string, () => Promise<Suite>> = {
  kernels: async () => (await import('./kernels.js')).benchKernels,
  mlp: async () => (await import('./mlp.js')).benchMlp,
  ingest: async () => (await import('./ingest.js')).benchIngest,
  rank: async () => (await import('./rank.js')).benchRank,
  eval: async () => (await import('./eval.js')).benchEval,
  learn: async () => (await import('./learn.js')).benchLearn,
  batch: async () => (await import('./batch.js')).benchBatch,
  startup: async () => (await import('./startup.js')).benchStartup,
};
