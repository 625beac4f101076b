/**
 * The HTML evaluation report, opened in headless Chromium: every plot drawn
 * as inline SVG, nothing requested but the file, no console or page errors,
 * user strings shown as text. Pure TypeScript (FUSIONRANK_TEST_NO_BUILD=1
 * is fine for this file).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadPlotting, REPORT_PLOTS, renderReport, type ReportData } from '../src/eval/report.js';
import type { AgreementResult, CompareRow } from '../src/eval/types.js';
import { loadOptional } from '../src/util/optional.js';

const EVIL = '<script>alert(1)</script>';
const EVIL_METRIC = 'P@5"><img src=x onerror="window.__pwned=1">';
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-eval-report-'));

/** mulberry32: deterministic hand-made data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

function agreementOf(tau: number, rbo: number, overlap: number, top1: number, moved: number): AgreementResult {
  return { kendallTau: tau, spearman: Math.min(1, tau + 0.1), rbo, overlap, top1, positionsMoved: moved, scoreCorrelation: tau - 0.2, queries: 30, perQuery: {} };
}

/** Three runs, three metrics, 30 queries; rows and agreement made up to fit. */
function handMade(): ReportData {
  const rand = random(7);
  const runs = ['bm25', 'dense', EVIL];
  const metrics = ['ndcg@10', 'map', EVIL_METRIC];
  const lift: Record<string, number> = { bm25: 0, dense: 0.08, [EVIL]: -0.03 };
  const perQuery: ReportData['perQuery'] = {};
  const means: ReportData['means'] = {};
  for (const run of runs) {
    perQuery[run] = {};
    means[run] = {};
    for (const metric of metrics) {
      const values: Record<string, number> = {};
      const r2 = random(metric.length * 31 + 1);
      for (let q = 0; q < 30; q++) {
        const base = r2();
        const noise = run === 'bm25' ? 0 : (rand() - 0.5) * 0.3;
        // A few exact ties with the baseline.
        values[q === 3 ? 'q"<b>3</b>' : `q${q}`] = q % 7 === 0 ? base : Math.min(1, Math.max(0, base + lift[run] + noise));
      }
      perQuery[run][metric] = values;
      means[run][metric] = mean(Object.values(values));
    }
  }
  const rows: CompareRow[] = [];
  for (const run of runs.slice(1))
    for (const metric of metrics) {
      const a = perQuery.bm25[metric];
      const b = perQuery[run][metric];
      const d = Object.keys(a).map((q) => b[q] - a[q]);
      const delta = mean(d);
      rows.push({
        run,
        metric,
        baseline: 'bm25',
        n: d.length,
        meanA: means.bm25[metric],
        meanB: means[run][metric],
        delta,
        ci95: [delta - 0.04, delta + 0.04],
        pTTest: run === 'dense' ? 0.001 : 0.3,
        pRandomization: run === 'dense' ? 0.002 : 0.31,
        effectSize: delta / 0.1,
        wins: d.filter((x) => x > 0).length,
        ties: d.filter((x) => x === 0).length,
        losses: d.filter((x) => x < 0).length,
        pAdjusted: run === 'dense' ? 0.012 : 0.62,
      });
    }
  const ks = [1, 3, 5, 10, 20, 50, 100];
  const rising = (scale: number) => ks.map((k) => ({ k, value: Math.min(1, (scale * Math.log2(1 + k)) / 7) }));
  const falling = (scale: number) => ks.map((k) => ({ k, value: scale / (1 + Math.log2(k) / 3) }));
  const curves: ReportData['curves'] = {};
  for (const run of runs) curves[run] = { P: falling(0.6 + lift[run]), recall: rising(1 + lift[run]), ndcg: rising(0.8 + lift[run]) };
  return {
    title: `Dense vs BM25 <i>test</i>`,
    baseline: 'bm25',
    metrics,
    runs,
    means,
    perQuery,
    rows,
    agreement: { dense: agreementOf(0.42, 0.61, 0.55, 0.4, 3.2), [EVIL]: agreementOf(-0.12, 0.33, 0.3, 0.1, 6.8) },
    curves,
  };
}

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
});
afterAll(async () => {
  await browser?.close();
});

interface Opened {
  errors: string[];
  requests: string[];
  dialogs: string[];
  page: Awaited<ReturnType<Browser['newPage']>>;
  url: string;
}

async function open(html: string, name: string): Promise<Opened> {
  const file = join(dir, name);
  writeFileSync(file, html);
  const url = pathToFileURL(file).href;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const opened: Opened = { errors: [], requests: [], dialogs: [], page, url };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') opened.errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => opened.errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => opened.requests.push(r.url()));
  page.on('dialog', async (d) => {
    opened.dialogs.push(d.message());
    await d.dismiss();
  });
  await page.goto(url, { waitUntil: 'load' });
  return opened;
}

describe('renderReport', () => {
  it('is one page whose plots are inline SVG with drawn marks, requesting nothing but itself, without errors', async () => {
    const data = handMade();
    const html = await renderReport(data);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // Nothing to fetch and nothing to run.
    // (match() rather than toMatch: a failure prints the match, not the whole page)
    expect(html.match(/<script\b/i)).toBeNull();
    expect(html.match(/<[a-z][\w:-]*(?:\s+[\w:-]+="[^"]*")*\s+(?:src|href|xlink:href|srcset|action|data)\s*=/i)).toBeNull();
    expect(html.match(/vega\.github\.io|@import|url\((?!#)[^)]*\)/)).toBeNull();

    const { page, errors, requests, dialogs, url } = await open(html, 'report.html');
    try {
      expect(errors).toEqual([]);
      expect(dialogs).toEqual([]);
      expect(requests).toEqual([url]);

      for (const plot of REPORT_PLOTS) {
        const figure = page.locator(`[data-plot="${plot}"]`);
        expect(await figure.count(), plot).toBe(1);
        const svg = figure.locator('svg');
        expect(await svg.count(), plot).toBe(1);
        const box = await svg.boundingBox();
        expect(box, plot).not.toBeNull();
        expect(box!.width, plot).toBeGreaterThan(100);
        expect(box!.height, plot).toBeGreaterThan(100);
        // Marks drawn: vega puts each data mark's items under g.role-mark.
        const marks = await svg.locator('g.role-mark path, g.role-mark rect, g.role-mark line').count();
        expect(marks, plot).toBeGreaterThan(0);
      }
      // What each plot draws: a CI point per row; bars for the histograms; a line per run × measure; bars for agreement.
      expect(await page.locator('[data-plot="ci-forest"] g.mark-symbol.role-mark path').count()).toBe(data.rows.length);
      expect(await page.locator('[data-plot="ci-forest"] g.mark-rule.role-mark line, [data-plot="ci-forest"] g.mark-rule.role-mark path').count()).toBeGreaterThanOrEqual(data.rows.length);
      expect(await page.locator('[data-plot="delta-histogram"] g.mark-rect.role-mark path').count()).toBeGreaterThan(2 * 3);
      expect(await page.locator('[data-plot="k-curves"] g.mark-line.role-mark path').count()).toBe(3 * 3);
      expect(await page.locator('[data-plot="agreement"] g.mark-rect.role-mark path').count()).toBe(2 * 6 + 2);
      // The ids vega gives clip paths are made unique across the page's SVGs.
      const ids = await page.locator('[id]').evaluateAll((els) => els.map((e) => e.id));
      expect(new Set(ids).size).toBe(ids.length);

      // User strings are text, never markup.
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('[src], [href], [srcset], [action]').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.title()).toBe('Dense vs BM25 <i>test</i>');
      expect(await page.locator('h1').textContent()).toBe('Dense vs BM25 <i>test</i>');
      const comparison = page.locator('table[data-table="comparison"]');
      expect(await comparison.locator('td.run', { hasText: EVIL }).count()).toBe(3);
      expect(await comparison.locator('th.metric', { hasText: EVIL_METRIC }).count()).toBe(1);
      expect(await page.locator('table[data-table="agreement"] td.run', { hasText: EVIL }).count()).toBe(1);
      expect(await page.locator('[data-plot="delta-histogram"] svg text', { hasText: '<script>' }).count()).toBeGreaterThan(0);

      // The numbers of the table are the data's.
      const dense = handMade().rows.find((r) => r.run === 'dense' && r.metric === 'map')!;
      const row = comparison.locator('tr', { hasText: 'dense' }).nth(1);
      const text = (await row.textContent())!.replace(/\s+/g, ' ');
      expect(text).toContain(dense.meanB.toFixed(4));
      expect(text).toContain(`+${dense.delta.toFixed(4)}`);
      expect(text).toContain('0.012');
      expect(text).toContain(`${dense.wins} / ${dense.ties} / ${dense.losses}`);

      if (process.env.FUSIONRANK_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.FUSIONRANK_REPORT_SCREENSHOT, fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('leaves out what it has no data for: no curves, a single run', async () => {
    const data = handMade();
    delete data.curves;
    const html = await renderReport(data);
    expect(html).not.toContain('data-plot="k-curves"');
    for (const plot of ['ci-forest', 'delta-histogram', 'agreement']) expect(html).toContain(`data-plot="${plot}"`);

    const single = await renderReport({ baseline: 'bm25', runs: ['bm25'], metrics: ['map'], means: { bm25: { map: 0.25 } }, perQuery: { bm25: { map: { q1: 0.25 } } }, rows: [], agreement: {} });
    const { page, errors, requests, url } = await open(single, 'single.html');
    try {
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
      expect(await page.locator('[data-plot]').count()).toBe(0);
      expect(await page.locator('table[data-table="comparison"] td', { hasText: '0.2500' }).count()).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('refuses data that is not a report', async () => {
    await expect(renderReport(null as unknown as ReportData)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(renderReport({ ...handMade(), baseline: 'nope' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT', message: expect.stringContaining('data.baseline') });
    await expect(renderReport({ ...handMade(), rows: undefined } as unknown as ReportData)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
  });
});

describe('loadPlotting', () => {
  it('names both packages when either is missing', async () => {
    // The real optional-peer loader, asked for packages that do not exist.
    for (const missing of ['vega', 'vega-lite']) {
      const load = (name: string) => loadOptional(name === missing ? `fusionrank-test-no-such-${name}` : name);
      const error = await loadPlotting(load).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ name: 'FusionrankError', code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY' });
      expect((error as Error).message).toContain(`'${missing}' could not be loaded`);
      expect((error as Error).message).toContain('npm install vega vega-lite');
      expect((error as Error).cause).toMatchObject({ code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY' });
    }
  });

  it('passes other failures through, and loads both when present', async () => {
    const boom = Object.assign(new Error('broken install'), { code: 'ERR_SOMETHING' });
    await expect(loadPlotting(async (name) => (name === 'vega' ? Promise.reject(boom) : {}))).rejects.toBe(boom);
    const { vega, vegaLite } = await loadPlotting();
    expect(typeof vega.View).toBe('function');
    expect(typeof vegaLite.compile).toBe('function');
  });
});
