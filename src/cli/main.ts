/**
 * `npx fusionrank <command>`. Each command lives in its own module and
 * registers itself on the program.
 */
import { Command } from 'commander';

import { version } from '../native.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerInfo } from './info.js';
import { registerIngest } from './ingest.js';

const program = new Command();
program.name('fusionrank').description('Native multimodal embedding and ranking for Node.js').version(version);
registerInfo(program);
registerDemo(program);
registerBench(program);
registerIngest(program);
(await import('./eval.js')).registerEval(program);
(await import('./fit-weights.js')).registerFitWeights(program);
(await import('./batch.js')).registerBatch(program);

await program.parseAsync(process.argv);
