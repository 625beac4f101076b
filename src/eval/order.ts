/**
 * How a run's scores become a ranking. One place, so every metric, the
 * agreement measures and fusion order documents the same way.
 */

/** trec_eval's order: score descending, ties by document id descending (byte order). */
export function compareTrec(docA: string, scoreA: number, docB: string, scoreB: number): number {
  if (scoreA !== scoreB) return scoreB - scoreA;
  return docA < docB ? 1 : docA > docB ? -1 : 0;
}

/** The documents of one query's scores, best first, in trec_eval's order. */
export function rankDocs(scores: Record<string, number>): string[] {
  const docs = Object.keys(scores);
  docs.sort((a, b) => compareTrec(a, scores[a], b, scores[b]));
  return docs;
}
