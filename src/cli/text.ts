/** Text output shared by the CLI commands: number cells, aligned tables, files written with a coded error. */
import { writeFile } from 'node:fs/promises';

import { FusionrankError } from '../errors.js';

export const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
export const fixed = (x: unknown, digits = 4): string => (finite(x) ? x.toFixed(digits) : '-');
export const signed = (x: unknown, digits = 4): string => (finite(x) ? `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(digits)}` : '-');
/** A p-value: `<0.001` below that, 3 decimals otherwise, ` *` under 0.05. */
export const pText = (p: unknown): string => (finite(p) ? (p < 0.001 ? '<0.001' : p.toFixed(3)) + (p < 0.05 ? ' *' : '') : '-');

/** Rows of cells as aligned text: numbers (columns listed in `right`) right-aligned. */
export function textTable(header: string[], rows: string[][], right: Set<number>, indent = '  '): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Writes an output file; a failure is ERR_FUSIONRANK_IO naming the file and what it was. */
export async function writeOut(path: string, text: string, what: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    throw new FusionrankError(`Cannot write ${what} ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_IO', { cause: error });
  }
}
