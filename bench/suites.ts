/** Every bench suite `npx fusionrank bench <suite>` can run. */
import type { Suite } from './harness.js';

export const suites: Record<string, () => Promise<Suite>> = {
  kernels: async () => (await import('./kernels.js')).benchKernels,
  rank: async () => (await import('./rank.js')).benchRank,
};
