// Reading a Prometheus text exposition (format 0.0.4, what ops/metrics.ts serves): samples by
// name and labels, sums and a histogram's quantile bucket. Used by whoever shows another
// process's metrics (the browser page's operator console, gateway/ui-cluster-view.ts) and by the
// tests. A line that does not parse is skipped: the reader shows what it can, never throws.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The labels of `{…}`'s inside, or undefined when it is malformed. */
function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  LABEL_RE.lastIndex = 0;
  while (LABEL_RE.lastIndex < text.length) {
    const m = LABEL_RE.exec(text);
    if (m === null) return text.slice(LABEL_RE.lastIndex).trim() === '' ? labels : undefined;
    labels[m[1]!] = unescapeLabel(m[2]!);
  }
  return labels;
}

/** Every sample line of an exposition (comments, blank and malformed lines skipped). */
export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_RE.exec(line.trimEnd());
    if (m === null) continue;
    const labels = parseLabels(m[2] ?? '');
    const value = Number(m[3]);
    if (labels === undefined || (Number.isNaN(value) && m[3] !== 'NaN')) continue;
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The samples of `name` whose labels include `labels`. */
export function samplesOf(all: readonly PromSample[], name: string, labels: Record<string, string> = {}): PromSample[] {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the samples of `name` with these labels; undefined when there is none. */
export function sumOf(
  all: readonly PromSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samplesOf(all, name, labels);
  return found.length === 0 ? undefined : found.reduce((a, s) => a + s.value, 0);
}

/**
 * The upper bound of the bucket holding quantile `q` (0 < q ≤ 1) of histogram `name` (its
 * `_bucket` samples, cumulative by `le`), summed over label sets matching `labels`. null when
 * nothing was observed; Infinity when the quantile is beyond the last finite bucket. No
 * interpolation inside the bucket: the answer is a bound the quantile does not exceed.
 */
export function histogramQuantileBound(
  all: readonly PromSample[],
  name: string,
  q: number,
  labels: Record<string, string> = {},
): number | null {
  const byLe = new Map<number, number>();
  for (const s of samplesOf(all, `${name}_bucket`, labels)) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    if (!Number.isNaN(le)) byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (const [le, cumulative] of buckets) if (cumulative >= rank) return le;
  return Infinity;
}
