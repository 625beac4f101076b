import { writeFileSync } from 'node:fs';

import type { Command } from 'commander';

import type { SuiteReport } from '../../bench/harness.js';
import { suites } from '../../bench/suites.js';
import { capabilities } from '../capabilities.js';
import { positiveInt } from './options.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(`run benchmark suites side by side with peers and physical-limit probes (suites: ${Object.keys(suites).join(', ')})`)
    .argument('[suites...]', 'suites to run', ['kernels'])
    .option('--json <file>', 'also write machine-readable results to <file>')
    .option('--seed <n>', 'seed for generated inputs', positiveInt)
    .option('--time <ms>', 'time budget per case in ms', positiveInt)
    .option('--quick', 'small inputs and budgets (a smoke run)')
    .option('--items <n>', 'catalog size for the rank suite', positiveInt)
    .action(async (names: string[], opts: { json?: string; seed?: number; time?: number; quick?: boolean; items?: number }) => {
      const unknown = names.filter((n) => !(n in suites));
      if (unknown.length) {
        console.error(`Unknown suite ${unknown.join(', ')}; expected one of: ${Object.keys(suites).join(', ')}`);
        process.exitCode = 2;
        return;
      }
      // Loaded on use: `fusionrank info` should not pay for the bench code.
      const { caseTable, configFromEnv, formatTable } = await import('../../bench/harness.js');
      const config = configFromEnv({
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.time !== undefined ? { timeMs: opts.time } : {}),
        ...(opts.quick ? { quick: true } : {}),
      });
      if (opts.items) config.sizes.items = opts.items;
      const caps = capabilities();
      console.log(`fusionrank ${caps.version} · isa ${caps.isa} (available: ${caps.available.join(', ')}) · node ${process.version} · seed ${config.seed}`);
      const reports: SuiteReport[] = [];
      for (const name of names) {
        const suite = await suites[name]();
        const report = await suite(config);
        reports.push(report);
        console.log(`\n## ${report.suite}\n`);
        console.log(caseTable(report.cases));
        if (report.summary.length) console.log(`\n${formatTable(report.summary)}`);
        for (const note of report.notes) console.log(`- ${note}`);
      }
      if (opts.json) {
        writeFileSync(opts.json, JSON.stringify({ capabilities: caps, config, reports }, null, 2));
        console.log(`\nwrote ${opts.json}`);
      }
    });
}
