import type { Command } from 'commander';

import { capabilities } from '../capabilities.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the native capabilities of this machine')
    .action(() => {
      console.log(JSON.stringify(capabilities(), null, 2));
    });
}
