/**
 * The evaluation report: one self-contained HTML page. Every plot is a
 * Vega-Lite chart compiled to Vega and rendered to SVG here, in Node, then
 * inlined; the page has no script, loads nothing from the network and reads
 * the same offline. `vega` and `vega-lite` are optional peers, loaded on the
 * first call.
 */
import { FusionrankError, invalidParameter, typeError } from '../errors.js';
import { loadOptional } from '../util/optional.js';
import type { AgreementResult, AgreementValues, CompareRow, MetricName } from './types.js';

/** One point of a metric@k curve. */
export interface CurvePoint {
  k: number;
  value: number;
}

/** Everything the report shows. Run, metric and query names are shown as text, never as markup. */
export interface ReportData {
  /** The page's heading (default `'Evaluation report'`). */
  title?: string;
  /** The run the others are compared to; one of `runs`. */
  baseline: string;
  /** The metrics of `means`, `perQuery` and `rows`, in display order. */
  metrics: MetricName[];
  /** Every run, the baseline included, in display order. */
  runs: string[];
  /** `means[run][metric]`: each run's mean of each metric. */
  means: Record<string, Record<MetricName, number>>;
  /** `perQuery[run][metric][query]`: each run's value of each metric per query (for the per-query Δ histograms). */
  perQuery: Record<string, Record<MetricName, Record<string, number>>>;
  /** The paired comparisons, one per non-baseline run × metric (as `compare` returns them). */
  rows: CompareRow[];
  /** `agreement[run]`: the agreement of each non-baseline run's rankings with the baseline's. */
  agreement: Record<string, AgreementResult>;
  /** `curves[run][measure]`: a measure (`'P'`, `'recall'`, `'ndcg'`, …) at several cutoffs k, for the metric@k curves. */
  curves?: Record<string, Record<string, CurvePoint[]>>;
}

/** The part of `vega` the report uses. */
interface VegaModule {
  View: new (runtime: unknown, options: { renderer: 'none'; logLevel?: number }) => { toSVG(): Promise<string>; finalize(): void };
  parse(spec: unknown): unknown;
  logger(level?: number): unknown;
  Error: number;
}

/** The part of `vega-lite` the report uses. */
interface VegaLiteModule {
  compile(spec: unknown, options?: { logger?: unknown }): { spec: unknown };
}

/** The plotting libraries, loaded. */
export interface Plotting {
  vega: VegaModule;
  vegaLite: VegaLiteModule;
}

type Spec = Record<string, unknown>;

/** The `data-plot` attribute of each plot the report can hold. */
export const REPORT_PLOTS = ['ci-forest', 'delta-histogram', 'k-curves', 'agreement'] as const;
export type ReportPlot = (typeof REPORT_PLOTS)[number];

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d', '#ff9da6', '#79706e'];
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';
const OUTCOME = { domain: ['better', 'tie', 'worse'], range: ['#2b8a3e', '#adb5bd', '#c92a2a'] };
const SIGNIFICANCE = { domain: ['Holm p < 0.05', 'not significant'], range: ['#1c7ed6', '#868e96'] };
const AGREEMENT_MEASURES: [keyof AgreementValues, string][] = [
  ['kendallTau', 'Kendall τ'],
  ['spearman', 'Spearman ρ'],
  ['rbo', 'RBO'],
  ['overlap', 'overlap'],
  ['top1', 'top-1 same'],
  ['scoreCorrelation', 'score corr.'],
];

/**
 * Loads `vega` and `vega-lite` through `load` (the optional-peer loader by
 * default; a test passes its own).
 * @example
 * const { vega, vegaLite } = await loadPlotting();
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when either package is not installed; the message says `npm install vega vega-lite`
 */
export async function loadPlotting(load: (name: string) => Promise<unknown> = loadOptional): Promise<Plotting> {
  const names = ['vega', 'vega-lite'] as const;
  const settled = await Promise.allSettled(names.map((name) => load(name)));
  for (let i = 0; i < names.length; i++) {
    const result = settled[i];
    if (result.status === 'fulfilled') continue;
    const code = (result.reason as { code?: unknown } | null)?.code;
    if (code !== 'ERR_FUSIONRANK_MISSING_DEPENDENCY') throw result.reason;
    throw new FusionrankError(
      `The optional dependencies 'vega' and 'vega-lite' are needed for the HTML evaluation report (renderReport, fusionrank eval --report) but '${names[i]}' could not be loaded. Install them with: npm install vega vega-lite`,
      'ERR_FUSIONRANK_MISSING_DEPENDENCY',
      { cause: result.reason },
    );
  }
  const [vega, vegaLite] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [VegaModule, VegaLiteModule];
  return { vega, vegaLite };
}

/** `text` with the five HTML-special characters escaped: safe as element text and as a quoted attribute value. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const fixed = (x: unknown, digits = 4): string => (finite(x) ? x.toFixed(digits) : '—');
const signed = (x: unknown, digits = 4): string => (finite(x) ? `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x).toFixed(digits)}` : '—');
function pValue(p: unknown): string {
  if (!finite(p)) return '—';
  if (p < 0.001) return '&lt; 0.001';
  return p.toFixed(3);
}

/** The smallest "nice" number (1, 2, 2.5 or 5 × 10^k) at least `x`. */
function niceStep(x: number): number {
  if (!(x > 0)) return 0.1;
  const power = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= x * (1 - 1e-12)) return m * power;
  return 10 * power;
}

function checkData(data: unknown): ReportData {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw typeError(invalidParameter('data', 'a ReportData object', data));
  const d = data as ReportData;
  if (!Array.isArray(d.runs) || d.runs.some((r) => typeof r !== 'string')) throw typeError(invalidParameter('data.runs', 'an array of run names', d.runs));
  if (!Array.isArray(d.metrics) || d.metrics.some((m) => typeof m !== 'string')) throw typeError(invalidParameter('data.metrics', 'an array of metric names', d.metrics));
  if (typeof d.baseline !== 'string' || !d.runs.includes(d.baseline)) throw typeError(invalidParameter('data.baseline', 'one of data.runs', d.baseline));
  for (const key of ['means', 'perQuery', 'agreement'] as const) {
    const v = d[key];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw typeError(invalidParameter(`data.${key}`, 'an object keyed by run', v));
  }
  if (!Array.isArray(d.rows)) throw typeError(invalidParameter('data.rows', 'an array of CompareRow', d.rows));
  if (d.curves !== undefined && (d.curves === null || typeof d.curves !== 'object' || Array.isArray(d.curves)))
    throw typeError(invalidParameter('data.curves', 'an object keyed by run', d.curves));
  if (d.title !== undefined && typeof d.title !== 'string') throw typeError(invalidParameter('data.title', 'a string', d.title));
  return d;
}

const own = <T>(table: Record<string, T> | undefined, key: string): T | undefined =>
  table && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;

// ---------------------------------------------------------------- plots

function runColors(data: ReportData): Spec {
  return { domain: data.runs, range: data.runs.map((run) => colorOf(data, run)) };
}

/** Each run's colour, the same in every plot and table. */
function colorOf(data: ReportData, run: string): string {
  return PALETTE[Math.max(0, data.runs.indexOf(run)) % PALETTE.length];
}

/** Δ with its CI95 per run, one panel per metric, a rule at zero. */
function forestSpec(data: ReportData, others: string[]): Spec | undefined {
  const values = data.rows
    .filter((r) => finite(r.delta) && Array.isArray(r.ci95) && finite(r.ci95[0]) && finite(r.ci95[1]))
    .map((r) => ({ run: r.run, metric: r.metric, delta: r.delta, lo: r.ci95[0], hi: r.ci95[1], significance: finite(r.pAdjusted) && r.pAdjusted < 0.05 ? SIGNIFICANCE.domain[0] : SIGNIFICANCE.domain[1] }));
  if (!values.length) return undefined;
  const y = { field: 'run', type: 'nominal', sort: others, title: null, axis: { labelLimit: 180 } };
  return {
    data: { values },
    facet: { row: { field: 'metric', type: 'nominal', sort: data.metrics, header: { title: null, labelAngle: 0, labelAlign: 'left', labelOrient: 'top', labelFontWeight: 'bold', labelFontSize: 12, labelPadding: 4 } } },
    spacing: 10,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 520,
      height: { step: 24 },
      layer: [
        { mark: { type: 'rule', color: '#495057', strokeDash: [4, 3] }, encoding: { x: { datum: 0, type: 'quantitative' } } },
        {
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: {
            y,
            x: { field: 'lo', type: 'quantitative', title: `Δ vs baseline (run − baseline), with 95 % CI`, scale: { zero: true, nice: true } },
            x2: { field: 'hi' },
            color: { field: 'significance', type: 'nominal', scale: SIGNIFICANCE, legend: { title: null, orient: 'bottom' } },
          },
        },
        {
          mark: { type: 'point', filled: true, size: 70, opacity: 1 },
          encoding: { y, x: { field: 'delta', type: 'quantitative' }, color: { field: 'significance', type: 'nominal', scale: SIGNIFICANCE } },
        },
      ],
    },
  };
}

/** Per-query Δ histograms: a row per run, a column per metric, bins centred on zero, bars coloured by win / tie / loss. */
function histogramSpec(data: ReportData, others: string[]): Spec | undefined {
  const base = own(data.perQuery, data.baseline);
  const deltas = new Map<string, Map<string, number[]>>(); // metric → run → deltas
  let any = false;
  for (const metric of data.metrics) {
    const byRun = new Map<string, number[]>();
    const a = own(base, metric);
    for (const run of others) {
      const b = own(own(data.perQuery, run), metric);
      const list: number[] = [];
      if (a && b)
        for (const query of Object.keys(b)) {
          const va = own(a, query);
          const vb = b[query];
          if (finite(va) && finite(vb)) list.push(vb - va);
        }
      if (list.length) any = true;
      byRun.set(run, list);
    }
    deltas.set(metric, byRun);
  }
  if (!any) return undefined;

  const rows: Spec[] = [];
  for (const run of others) {
    const cells: Spec[] = [];
    for (const metric of data.metrics) {
      const all = [...deltas.get(metric)!.values()].flat();
      const extent = all.reduce((m, d) => Math.max(m, Math.abs(d)), 0);
      const step = niceStep(extent / 10);
      const half = (Math.round(extent / step) + 0.5) * step;
      const tick = niceStep(half / 3);
      const ticks: number[] = [];
      for (let t = -Math.floor(half / tick) * tick; t <= half + 1e-12; t += tick) ticks.push(Math.abs(t) < tick / 2 ? 0 : Number(t.toPrecision(12)));
      const list = deltas.get(metric)!.get(run)!;
      const counts = new Map<string, { lo: number; hi: number; outcome: string; count: number }>();
      for (const d of list) {
        const i = Math.round(d / step);
        const outcome = d > 0 ? 'better' : d < 0 ? 'worse' : 'tie';
        const key = `${i}:${outcome}`;
        const bin = counts.get(key) ?? { lo: (i - 0.5) * step, hi: (i + 0.5) * step, outcome, count: 0 };
        bin.count++;
        counts.set(key, bin);
      }
      const better = list.filter((d) => d > 0).length;
      const worse = list.filter((d) => d < 0).length;
      cells.push({
        title: { text: `${metric} · ${run} − ${data.baseline}`, subtitle: `${better} better · ${list.length - better - worse} tied · ${worse} worse`, anchor: 'start', fontSize: 12, subtitleFontSize: 11, subtitleColor: '#495057', limit: 300 },
        width: 260,
        height: 120,
        layer: [
          {
            data: { values: [...counts.values()] },
            mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
            encoding: {
              x: { field: 'lo', type: 'quantitative', bin: { binned: true, step }, title: 'Δ per query', scale: { domain: [-half, half], nice: false }, axis: { values: ticks, format: '~g' } },
              x2: { field: 'hi' },
              y: { field: 'count', type: 'quantitative', stack: 'zero', title: 'queries', axis: { tickMinStep: 1, format: 'd' } },
              color: { field: 'outcome', type: 'nominal', scale: OUTCOME, legend: { title: null, orient: 'bottom', direction: 'horizontal' } },
              order: { field: 'outcome', sort: 'ascending' },
            },
          },
          { mark: { type: 'rule', color: '#212529', strokeDash: [3, 3] }, encoding: { x: { datum: 0, type: 'quantitative' } } },
        ],
      });
    }
    rows.push({ hconcat: cells, spacing: 24 });
  }
  return { vconcat: rows, spacing: 18, resolve: { legend: { color: 'shared' } } };
}

/** Metric@k curves: a panel per measure, a line per run (the baseline dashed). */
function curvesSpec(data: ReportData): Spec | undefined {
  if (!data.curves) return undefined;
  const values: Spec[] = [];
  const measures: string[] = [];
  const ks = new Set<number>();
  for (const run of data.runs) {
    const byMeasure = own(data.curves, run);
    if (!byMeasure) continue;
    for (const measure of Object.keys(byMeasure)) {
      const points = byMeasure[measure];
      if (!Array.isArray(points)) continue;
      if (!measures.includes(measure)) measures.push(measure);
      for (const p of points)
        if (p && finite(p.k) && p.k > 0 && finite(p.value)) {
          ks.add(p.k);
          values.push({ run, measure: `${measure}@k`, k: p.k, value: p.value, role: run === data.baseline ? 'baseline' : 'run' });
        }
    }
  }
  if (!values.length) return undefined;
  const ticks = [...ks].sort((a, b) => a - b);
  const logScale = ticks.length > 1 && ticks[ticks.length - 1] / ticks[0] > 8;
  const encoding = {
    x: { field: 'k', type: 'quantitative', title: 'k', scale: logScale ? { type: 'log', nice: false } : { zero: false, nice: false }, axis: { values: ticks, format: 'd', grid: true } },
    y: { field: 'value', type: 'quantitative', title: null, scale: { zero: true } },
    color: { field: 'run', type: 'nominal', scale: runColors(data), legend: { title: null, orient: 'bottom', labelLimit: 200 } },
    strokeDash: { field: 'role', type: 'nominal', scale: { domain: ['baseline', 'run'], range: [[5, 3], [1, 0]] }, legend: null },
  };
  return {
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', sort: measures.map((m) => `${m}@k`), header: { title: null, labelFontWeight: 'bold', labelFontSize: 12 } } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 230,
      height: 170,
      layer: [{ mark: { type: 'line', strokeWidth: 2 }, encoding }, { mark: { type: 'point', filled: true, size: 30 }, encoding: { x: encoding.x, y: encoding.y, color: encoding.color } }],
    },
  };
}

/** Agreement with the baseline: grouped bars of the correlation-like measures; positions moved on its own scale. */
function agreementSpec(data: ReportData, others: string[]): Spec | undefined {
  const values: Spec[] = [];
  const moved: Spec[] = [];
  for (const run of others) {
    const a = own(data.agreement, run);
    if (!a) continue;
    for (const [key, label] of AGREEMENT_MEASURES) if (finite(a[key])) values.push({ run, measure: label, value: a[key] });
    if (finite(a.positionsMoved)) moved.push({ run, value: a.positionsMoved });
  }
  if (!values.length && !moved.length) return undefined;
  const shown = others.filter((run) => own(data.agreement, run));
  const color = { field: 'run', type: 'nominal', scale: { domain: shown, range: shown.map((run) => colorOf(data, run)) }, legend: { title: null, orient: 'bottom', labelLimit: 200 } };
  const panels: Spec[] = [];
  if (values.length) {
    const low = Math.min(0, ...values.map((v) => v.value as number));
    panels.push({
      title: { text: `agreement with ${data.baseline}`, anchor: 'start', fontSize: 12, limit: 480 },
      data: { values },
      // A fixed width: with xOffset, a step would size each run's bar, not each measure.
      width: Math.max(440, AGREEMENT_MEASURES.length * (shown.length * 18 + 16)),
      height: 200,
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'measure', type: 'nominal', sort: AGREEMENT_MEASURES.map(([, l]) => l), title: null, axis: { labelAngle: 0 } },
            xOffset: { field: 'run', type: 'nominal', sort: others },
            y: { field: 'value', type: 'quantitative', title: null, scale: { domain: [low < 0 ? -1 : 0, 1] } },
            color,
          },
        },
        { mark: { type: 'rule', color: '#495057' }, encoding: { y: { datum: 0, type: 'quantitative' } } },
      ],
    });
  }
  if (moved.length)
    panels.push({
      title: { text: 'mean positions moved', anchor: 'start', fontSize: 12 },
      data: { values: moved },
      width: { step: 22 },
      height: 200,
      mark: 'bar',
      encoding: {
        x: { field: 'run', type: 'nominal', sort: others, title: null, axis: { labels: false, ticks: false } },
        y: { field: 'value', type: 'quantitative', title: null },
        color,
      },
    });
  return { hconcat: panels, spacing: 40, resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } } };
}

let svgCount = 0;

/** A Vega-Lite spec as standalone SVG markup, its ids made unique in the page. */
async function toSvg(plotting: Plotting, spec: Spec): Promise<string> {
  const { vega, vegaLite } = plotting;
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 8,
    config: {
      font: FONT,
      view: { stroke: '#dee2e6' },
      axis: { labelColor: '#343a40', titleColor: '#343a40', gridColor: '#f1f3f5', domainColor: '#adb5bd', tickColor: '#adb5bd', labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
      legend: { labelFontSize: 11, symbolType: 'square' },
      header: { labelColor: '#212529' },
      title: { color: '#212529', fontWeight: 'bold' },
    },
    ...spec,
  };
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(vegaLite.compile(full, { logger }).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    const prefix = `p${++svgCount}-`;
    return svg.replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${prefix}${id}"`).replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${prefix}${id})`);
  } finally {
    view.finalize();
  }
}

// ---------------------------------------------------------------- tables

function comparisonTable(data: ReportData): string {
  const byKey = new Map(data.rows.map((r) => [`${r.metric}\u0000${r.run}`, r]));
  const others = data.runs.filter((r) => r !== data.baseline);
  const body: string[] = [];
  for (const metric of data.metrics) {
    const group = [data.baseline, ...others];
    group.forEach((run, i) => {
      const mean = own(own(data.means, run), metric);
      const row = byKey.get(`${metric}\u0000${run}`);
      const first = i === 0 ? `<th scope="rowgroup" rowspan="${group.length}" class="metric">${escapeHtml(metric)}</th>` : '';
      if (run === data.baseline) {
        body.push(`<tr class="baseline${i === 0 ? ' group-start' : ''}">${first}<td class="run"><span class="swatch" style="background:${colorOf(data, run)}"></span>${escapeHtml(run)} <span class="tag">baseline</span></td><td class="num">${fixed(mean)}</td><td colspan="6"></td></tr>`);
        return;
      }
      const significant = row && finite(row.pAdjusted) && row.pAdjusted < 0.05;
      const direction = row && finite(row.delta) ? (row.delta > 0 ? 'up' : row.delta < 0 ? 'down' : '') : '';
      const cells = row
        ? `<td class="num delta ${significant ? direction : ''}">${signed(row.delta)}</td>` +
          `<td class="num ci">[${signed(row.ci95?.[0])}, ${signed(row.ci95?.[1])}]</td>` +
          `<td class="num${significant ? ' sig' : ''}">${pValue(row.pAdjusted)}${significant ? ' <span class="star" title="Holm-adjusted p < 0.05">*</span>' : ''}</td>` +
          `<td class="num wtl"><span class="w">${row.wins}</span> / <span class="t">${row.ties}</span> / <span class="l">${row.losses}</span></td>` +
          `<td class="num">${fixed(row.effectSize, 2)}</td><td class="num">${escapeHtml(row.n)}</td>`
        : `<td class="num muted" colspan="6">not compared</td>`;
      body.push(`<tr>${first}<td class="run"><span class="swatch" style="background:${colorOf(data, run)}"></span>${escapeHtml(run)}</td><td class="num">${fixed(mean)}</td>${cells}</tr>`);
    });
  }
  return `<div class="table-wrap"><table class="grid" data-table="comparison">
<thead><tr><th scope="col">metric</th><th scope="col">run</th><th scope="col" class="num">mean</th><th scope="col" class="num">Δ</th><th scope="col" class="num">95 % CI of Δ</th><th scope="col" class="num">p (Holm)</th><th scope="col" class="num">wins / ties / losses</th><th scope="col" class="num">d<sub>z</sub></th><th scope="col" class="num">n</th></tr></thead>
<tbody>${body.join('\n')}</tbody></table></div>`;
}

function agreementTable(data: ReportData, others: string[]): string {
  const body = others
    .filter((run) => own(data.agreement, run))
    .map((run) => {
      const a = own(data.agreement, run)!;
      return `<tr><td class="run"><span class="swatch" style="background:${colorOf(data, run)}"></span>${escapeHtml(run)}</td><td class="num">${escapeHtml(a.queries)}</td><td class="num">${fixed(a.kendallTau, 3)}</td><td class="num">${fixed(a.spearman, 3)}</td><td class="num">${fixed(a.rbo, 3)}</td><td class="num">${fixed(a.overlap, 3)}</td><td class="num">${finite(a.top1) ? `${(a.top1 * 100).toFixed(1)} %` : '—'}</td><td class="num">${fixed(a.positionsMoved, 2)}</td><td class="num">${fixed(a.scoreCorrelation, 3)}</td></tr>`;
    });
  if (!body.length) return '';
  return `<div class="table-wrap"><table class="grid" data-table="agreement">
<thead><tr><th scope="col">run</th><th scope="col" class="num">queries</th><th scope="col" class="num">Kendall τ</th><th scope="col" class="num">Spearman ρ</th><th scope="col" class="num">RBO</th><th scope="col" class="num">overlap</th><th scope="col" class="num">top-1 same</th><th scope="col" class="num">positions moved</th><th scope="col" class="num">score corr.</th></tr></thead>
<tbody>${body.join('\n')}</tbody></table></div>`;
}

const STYLE = `
:root { color-scheme: light; --ink: #212529; --muted: #6c757d; --line: #dee2e6; --soft: #f8f9fa; --accent: #1c7ed6; }
* { box-sizing: border-box; }
body { margin: 0; background: #f1f3f5; color: var(--ink); font: 14px/1.5 ${FONT}; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 48px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
.meta { margin: 0; color: var(--muted); }
.meta b { color: var(--ink); font-weight: 600; }
section { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px 20px; margin-top: 20px; }
section h2 { margin: 0 0 4px; font-size: 17px; font-weight: 650; }
section > p.lead { margin: 0 0 14px; color: var(--muted); font-size: 13px; max-width: 80ch; }
figure { margin: 8px 0 0; overflow-x: auto; }
figure svg { display: block; max-width: none; height: auto; }
table.grid { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; margin-top: 6px; }
table.grid th, table.grid td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; white-space: nowrap; }
table.grid thead th { font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 2px solid var(--line); background: var(--soft); }
table.grid .num { text-align: right; }
table.grid th.metric { font-weight: 650; background: var(--soft); border-right: 1px solid var(--line); }
table.grid tr.baseline td { background: #fbfcfd; }
table.grid tr.group-start > * { border-top: 2px solid var(--line); }
.table-wrap { overflow-x: auto; }
table.grid td.run, table.grid th.metric { white-space: normal; overflow-wrap: anywhere; min-width: 7em; max-width: 22em; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; vertical-align: -1px; }
.tag { display: inline-block; font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 10px; padding: 0 7px; margin-left: 4px; }
.delta.up { color: #2b8a3e; font-weight: 600; }
.delta.down { color: #c92a2a; font-weight: 600; }
.sig { font-weight: 600; color: var(--accent); }
.star { color: var(--accent); }
.wtl .w { color: #2b8a3e; } .wtl .l { color: #c92a2a; } .wtl .t { color: var(--muted); }
.muted { color: var(--muted); }
.note { color: var(--muted); font-size: 12px; margin: 10px 0 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; text-align: center; }
`;

function section(id: string, heading: string, lead: string, body: string): string {
  return `<section id="${id}">\n<h2>${heading}</h2>\n${lead ? `<p class="lead">${lead}</p>\n` : ''}${body}\n</section>`;
}

function figure(plot: ReportPlot, label: string, svg: string): string {
  return `<figure data-plot="${plot}" role="img" aria-label="${escapeHtml(label)}">${svg}</figure>`;
}

/**
 * Renders an evaluation as one self-contained HTML page: the comparison
 * table (mean, Δ to the baseline, CI95, Holm-adjusted p, wins / ties /
 * losses), a forest plot of the Δs with their CIs, per-query Δ histograms,
 * metric@k curves (when `data.curves` is given) and the agreement of each
 * run with the baseline, table and bars. Plots are SVG rendered in Node with
 * Vega-Lite, inlined, each in a `<figure data-plot="ci-forest" |
 * "delta-histogram" | "k-curves" | "agreement">`. The page has no script and
 * references nothing outside itself (its Content-Security-Policy forbids
 * it); every run, metric and query name is escaped.
 * @example
 * import { writeFile } from 'node:fs/promises';
 * import { compare, evaluate, agreement, renderReport } from 'fusionrank/eval';
 * const metrics = ['ndcg@10', 'map'];
 * const runs = { bm25, dense };
 * const evals = { bm25: evaluate(qrels, bm25, metrics), dense: evaluate(qrels, dense, metrics) };
 * const html = await renderReport({
 *   baseline: 'bm25', metrics, runs: ['bm25', 'dense'],
 *   means: { bm25: evals.bm25.mean, dense: evals.dense.mean },
 *   perQuery: { bm25: evals.bm25.perQuery, dense: evals.dense.perQuery },
 *   rows: compare(qrels, runs, { baseline: 'bm25', metrics, correction: 'holm' }),
 *   agreement: { dense: agreement(bm25, dense) },
 * });
 * await writeFile('report.html', html);
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when `vega` or `vega-lite` is not installed (`npm install vega vega-lite`)
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when `data` is not a ReportData (runs or metrics not string arrays, baseline not among the runs, a table not an object)
 */
export async function renderReport(data: ReportData): Promise<string> {
  const d = checkData(data);
  const plotting = await loadPlotting();
  const others = d.runs.filter((r) => r !== d.baseline);
  const title = d.title ?? 'Evaluation report';

  const queries = new Set<string>();
  for (const run of d.runs) for (const metric of d.metrics) for (const q of Object.keys(own(own(d.perQuery, run), metric) ?? {})) queries.add(q);

  const specs: Record<ReportPlot, Spec | undefined> = {
    'ci-forest': forestSpec(d, others),
    'delta-histogram': histogramSpec(d, others),
    'k-curves': curvesSpec(d),
    agreement: agreementSpec(d, others),
  };
  const svgs: Partial<Record<ReportPlot, string>> = {};
  for (const plot of REPORT_PLOTS) {
    const spec = specs[plot];
    if (spec) svgs[plot] = await toSvg(plotting, spec);
  }

  const baseline = `<b>${escapeHtml(d.baseline)}</b>`;
  const corrected = d.rows.length;
  const parts: string[] = [];
  parts.push(
    section(
      'comparison',
      'Runs against the baseline',
      `Mean of each metric; Δ = run − ${baseline} over the queries both were scored on, its 95 % bootstrap interval, the randomization-test p-value Holm-adjusted over all ${corrected} comparison${corrected === 1 ? '' : 's'} (* p &lt; 0.05), the queries where the run wins, ties and loses, and the effect size d<sub>z</sub> = mean Δ / sd Δ.`,
      comparisonTable(d),
    ),
  );
  if (svgs['ci-forest'])
    parts.push(section('forest', 'Δ with 95 % confidence intervals', `Each run's mean difference from ${baseline}; an interval that does not cross the dashed zero line is a difference the bootstrap supports.`, figure('ci-forest', 'Forest plot of the differences to the baseline with 95 % CIs', svgs['ci-forest'])));
  if (svgs['delta-histogram'])
    parts.push(section('per-query', 'Per-query Δ', `How the per-query differences from ${baseline} are spread: a few large wins and many small losses read the same in the mean as the other way round, not here.`, figure('delta-histogram', 'Histograms of the per-query differences to the baseline', svgs['delta-histogram'])));
  if (svgs['k-curves'])
    parts.push(section('curves', 'Metric@k', 'Each measure at several cutoffs k (log scale); the baseline is dashed.', figure('k-curves', 'Metric at k curves per run', svgs['k-curves'])));
  const table = agreementTable(d, others);
  if (svgs.agreement || table)
    parts.push(
      section(
        'agreement',
        `Agreement with the baseline`,
        `How much each run's rankings agree with ${baseline}'s, averaged over queries: rank correlations over the documents both rank, rank-biased overlap, top-k overlap, the share of queries with the same first document, and how many positions a document moves on average.`,
        `${table}${svgs.agreement ? figure('agreement', 'Bar chart of the agreement with the baseline', svgs.agreement) : ''}`,
      ),
    );
  if (!others.length) parts.push(section('single', 'Only one run', 'Give two runs or more to compare them.', ''));

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="fusionrank">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">baseline ${baseline} · ${d.runs.length} run${d.runs.length === 1 ? '' : 's'} · ${queries.size} quer${queries.size === 1 ? 'y' : 'ies'} · metrics ${d.metrics.map((m) => `<b>${escapeHtml(m)}</b>`).join(', ')}</p>
</header>
${parts.join('\n')}
<footer>Made by fusionrank eval. The plots are static SVG: this page needs no script and no network.</footer>
</main>
</body>
</html>
`;
}
