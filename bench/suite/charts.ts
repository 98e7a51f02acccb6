// Dependency-free SVG charts for docs/BENCHMARKS.md: a line chart (latency percentiles against
// offered load, log axes when the data spans decades) and a grouped bar chart (throughput per
// configuration). Pure functions from a spec to an SVG string; the suite writes the files.
//
// Values that cannot be drawn (null, NaN, or ≤ 0 on a log axis) are left out: a line breaks
// there, a bar is missing. Every label is XML-escaped.

export interface Point {
  x: number;
  y: number | null;
}

export interface LineSeries {
  name: string;
  points: Point[];
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 4'; solid when absent. */
  dash?: string;
}

export interface LegendItem {
  label: string;
  color: string;
  dash?: string;
  /** A filled square instead of a line sample (bars). */
  box?: boolean;
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logX?: boolean;
  logY?: boolean;
  /** Replaces the legend built from the series (e.g. colours for configurations, dashes for percentiles). */
  legend?: LegendItem[];
  width?: number;
  height?: number;
}

export interface BarGroup {
  name: string;
  /** One value per category; null = no bar. */
  values: (number | null)[];
  color?: string;
}

export interface BarChartSpec {
  title: string;
  subtitle?: string;
  yLabel: string;
  categories: string[];
  groups: BarGroup[];
  logY?: boolean;
  /** Print each bar's value above it. */
  valueLabels?: boolean;
  width?: number;
  height?: number;
}

/** Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), yellow left out: too pale on white. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#000000', '#999999'];
export const DASH_P50 = '2 4';
export const DASH_P999 = '8 4';

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const MARGIN = { top: 62, right: 24, bottom: 64, left: 78 };
const LEGEND_W_MIN = 150;
const LEGEND_W_MAX = 330;
const LINE_H = 18;

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** 1,500 → "1.5k", 2,280,090 → "2.28M", 0.25 → "0.25": tick labels (three significant digits). */
export function formatShort(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1000) return `${trim(v / 1e3)}k`;
  if (a === 0) return '0';
  return trim(v);
}

/** Bar labels: exact below 100,000 (9,449 must not print as 9,450), short above. */
export function formatValue(v: number): string {
  if (Math.abs(v) >= 1e5) return formatShort(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
}

function fmt(n: number): string {
  return String(Math.round(n * 10) / 10);
}

// ---------------------------------------------------------------------------
// scales
// ---------------------------------------------------------------------------

interface Scale {
  min: number;
  max: number;
  log: boolean;
  ticks: number[];
  /** Maps a value to [0, 1]. */
  frac(v: number): number;
}

/** 1-2-5 sequence value at or below / above v (v > 0). */
function step125(v: number, up: boolean): number {
  const e = Math.floor(Math.log10(v));
  const base = 10 ** e;
  const m = v / base;
  const steps = [1, 2, 5, 10];
  if (up) {
    for (const s of steps) if (s * base >= v * (1 - 1e-12)) return s * base;
    return 10 * base;
  }
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i]! <= m * (1 + 1e-12)) return steps[i]! * base;
  return base;
}

function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  return step125(raw, true);
}

function linearScale(values: number[], includeZero: boolean): Scale {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (includeZero) lo = Math.min(0, lo);
  if (hi === lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo));
  const step = niceStep(hi - lo, 5);
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, log: false, ticks, frac: (v) => (v - min) / (max - min) };
}

function logScale(values: number[]): Scale {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    lo /= 2;
    hi *= 2;
  }
  // Over three decades, whole decades read best; below that, the 1-2-5 values around the data.
  const decades = hi / lo > 1000;
  const min = decades ? 10 ** Math.floor(Math.log10(lo)) : step125(lo, false);
  const max = decades ? 10 ** Math.ceil(Math.log10(hi)) : step125(hi, true);
  let ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const t = Number((m * 10 ** e).toPrecision(12));
      if (t >= min * (1 - 1e-9) && t <= max * (1 + 1e-9)) ticks.push(t);
    }
  }
  // Over ~3 decades the 2s and 5s crowd the axis: keep the powers of ten and the ends.
  if (ticks.length > 10)
    ticks = ticks.filter(
      (t, i) => i === 0 || i === ticks.length - 1 || Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9,
    );
  const l0 = Math.log10(min);
  const l1 = Math.log10(max);
  return { min, max, log: true, ticks, frac: (v) => (Math.log10(v) - l0) / (l1 - l0) };
}

function drawable(v: number | null | undefined, log: boolean): v is number {
  return v !== null && v !== undefined && Number.isFinite(v) && (!log || v > 0);
}

// ---------------------------------------------------------------------------
// shared pieces
// ---------------------------------------------------------------------------

function header(width: number, height: number, title: string, subtitle: string | undefined): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="#222">${escapeXml(title)}</text>`,
  ];
  if (subtitle)
    out.push(
      `<text x="${width / 2}" y="45" text-anchor="middle" font-size="12" fill="#555">${escapeXml(subtitle)}</text>`,
    );
  return out;
}

function axisLabel(label: string, log: boolean): string {
  if (!log) return label;
  return label.endsWith(')') ? `${label.slice(0, -1)}, log scale)` : `${label} (log scale)`;
}

/** Room for the legend right of the plot: its longest label at ~7 px a character. */
function legendWidth(labels: string[]): number {
  const longest = Math.max(0, ...labels.map((l) => l.length));
  return Math.min(LEGEND_W_MAX, Math.max(LEGEND_W_MIN, 60 + longest * 7));
}

function legend(items: LegendItem[], x: number, y: number): string[] {
  const out = [`<g class="legend">`];
  items.forEach((it, i) => {
    const cy = y + i * LINE_H;
    if (it.box) out.push(`<rect x="${x}" y="${cy - 6}" width="14" height="12" fill="${it.color}"/>`);
    else
      out.push(
        `<line x1="${x}" y1="${cy}" x2="${x + 28}" y2="${cy}" stroke="${it.color}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>`,
      );
    out.push(
      `<text x="${x + (it.box ? 22 : 36)}" y="${cy + 4}" font-size="12" fill="#222">${escapeXml(it.label)}</text>`,
    );
  });
  out.push('</g>');
  return out;
}

function yAxis(s: Scale, plot: Box, label: string): string[] {
  const out: string[] = [];
  for (const t of s.ticks) {
    const y = plot.y + plot.h - s.frac(t) * plot.h;
    out.push(
      `<line x1="${plot.x}" y1="${fmt(y)}" x2="${plot.x + plot.w}" y2="${fmt(y)}" stroke="#e3e3e3" stroke-width="1"/>`,
    );
    out.push(`<line x1="${plot.x - 5}" y1="${fmt(y)}" x2="${plot.x}" y2="${fmt(y)}" stroke="#333"/>`);
    out.push(
      `<text x="${plot.x - 8}" y="${fmt(y + 4)}" text-anchor="end" font-size="11" fill="#333">${escapeXml(formatShort(t))}</text>`,
    );
  }
  out.push(`<line x1="${plot.x}" y1="${plot.y}" x2="${plot.x}" y2="${plot.y + plot.h}" stroke="#333"/>`);
  const cx = 18;
  const cy = plot.y + plot.h / 2;
  out.push(
    `<text x="${cx}" y="${fmt(cy)}" text-anchor="middle" font-size="13" fill="#222" transform="rotate(-90 ${cx} ${fmt(cy)})">${escapeXml(axisLabel(label, s.log))}</text>`,
  );
  return out;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

// ---------------------------------------------------------------------------
// line chart
// ---------------------------------------------------------------------------

export function lineChartSvg(spec: LineChartSpec): string {
  const width = spec.width ?? 860;
  const height = spec.height ?? 500;
  const logX = spec.logX ?? false;
  const logY = spec.logY ?? false;
  const legendW = legendWidth((spec.legend ?? spec.series).map((x) => ('label' in x ? x.label : x.name)));
  const plot: Box = {
    x: MARGIN.left,
    y: MARGIN.top,
    w: width - MARGIN.left - MARGIN.right - legendW,
    h: height - MARGIN.top - MARGIN.bottom,
  };
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series)
    for (const p of s.points)
      if (drawable(p.x, logX) && drawable(p.y, logY)) {
        xs.push(p.x);
        ys.push(p.y);
      }
  const out = header(width, height, spec.title, spec.subtitle);
  if (xs.length === 0) {
    out.push(
      `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="14" fill="#777">no data</text>`,
      '</svg>',
    );
    return `${out.join('\n')}\n`;
  }
  const sx = logX ? logScale(xs) : linearScale(xs, false);
  const sy = logY ? logScale(ys) : linearScale(ys, true);
  const px = (v: number) => plot.x + sx.frac(v) * plot.w;
  const py = (v: number) => plot.y + plot.h - sy.frac(v) * plot.h;

  out.push(...yAxis(sy, plot, spec.yLabel));
  for (const t of sx.ticks) {
    const x = px(t);
    out.push(
      `<line x1="${fmt(x)}" y1="${plot.y}" x2="${fmt(x)}" y2="${plot.y + plot.h}" stroke="#eeeeee" stroke-width="1"/>`,
    );
    out.push(`<line x1="${fmt(x)}" y1="${plot.y + plot.h}" x2="${fmt(x)}" y2="${plot.y + plot.h + 5}" stroke="#333"/>`);
    out.push(
      `<text x="${fmt(x)}" y="${plot.y + plot.h + 19}" text-anchor="middle" font-size="11" fill="#333">${escapeXml(formatShort(t))}</text>`,
    );
  }
  out.push(
    `<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" stroke="#333"/>`,
  );
  out.push(
    `<text x="${fmt(plot.x + plot.w / 2)}" y="${height - 16}" text-anchor="middle" font-size="13" fill="#222">${escapeXml(axisLabel(spec.xLabel, logX))}</text>`,
  );

  const items: LegendItem[] = [];
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    items.push({ label: s.name, color, ...(s.dash ? { dash: s.dash } : {}) });
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    // Runs of drawable points become one polyline each: a missing value breaks the line.
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${run.join(' ')}"/>`,
        );
      run = [];
    };
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    for (const p of pts) {
      if (!drawable(p.x, logX) || !drawable(p.y, logY)) {
        flush();
        continue;
      }
      run.push(`${fmt(px(p.x))},${fmt(py(p.y))}`);
    }
    flush();
    for (const p of pts)
      if (drawable(p.x, logX) && drawable(p.y, logY))
        out.push(
          `<circle cx="${fmt(px(p.x))}" cy="${fmt(py(p.y))}" r="3.2" fill="${color}"><title>${escapeXml(`${s.name}: ${formatShort(p.x)} → ${formatShort(p.y)}`)}</title></circle>`,
        );
    out.push('</g>');
  });
  out.push(...legend(spec.legend ?? items, plot.x + plot.w + 22, plot.y + 8));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// grouped bar chart
// ---------------------------------------------------------------------------

/** Splits a category label into lines of about `max` characters at spaces (or at explicit '\n'). */
export function wrapLabel(label: string, max: number): string[] {
  const lines: string[] = [];
  for (const part of label.split('\n')) {
    let cur = '';
    for (const word of part.split(' ')) {
      if (cur !== '' && cur.length + 1 + word.length > max) {
        lines.push(cur);
        cur = word;
      } else cur = cur === '' ? word : `${cur} ${word}`;
    }
    lines.push(cur);
  }
  return lines;
}

export function barChartSvg(spec: BarChartSpec): string {
  const width = spec.width ?? 860;
  const logY = spec.logY ?? false;
  const nCat = spec.categories.length;
  const legendW = legendWidth(spec.groups.map((g) => g.name));
  const slot0 = (width - MARGIN.left - MARGIN.right - legendW) / Math.max(1, nCat);
  const labelLines = spec.categories.map((c) => wrapLabel(c, Math.max(6, Math.floor(slot0 / 7))));
  const maxLines = Math.max(1, ...labelLines.map((l) => l.length));
  // Below the plot only the category labels: no axis title.
  const bottom = 28 + maxLines * 13;
  const height = spec.height ?? 400 + bottom;
  const plot: Box = {
    x: MARGIN.left,
    y: MARGIN.top,
    w: width - MARGIN.left - MARGIN.right - legendW,
    h: height - MARGIN.top - bottom,
  };
  const vals: number[] = [];
  for (const g of spec.groups) for (const v of g.values) if (drawable(v, logY)) vals.push(v);
  const out = header(width, height, spec.title, spec.subtitle);
  if (vals.length === 0 || nCat === 0) {
    out.push(
      `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="14" fill="#777">no data</text>`,
      '</svg>',
    );
    return `${out.join('\n')}\n`;
  }
  const sy = logY ? logScale(vals) : linearScale(vals, true);
  const py = (v: number) => plot.y + plot.h - sy.frac(v) * plot.h;
  out.push(...yAxis(sy, plot, spec.yLabel));

  const slot = plot.w / nCat;
  const nGroups = Math.max(1, spec.groups.length);
  const barW = Math.min(46, (slot * 0.8) / nGroups);
  const baseY = plot.y + plot.h;
  const items: LegendItem[] = [];
  spec.groups.forEach((g, gi) => {
    const color = g.color ?? PALETTE[gi % PALETTE.length]!;
    items.push({ label: g.name, color, box: true });
    out.push(`<g class="bars" data-name="${escapeXml(g.name)}">`);
    g.values.forEach((v, ci) => {
      if (ci >= nCat || !drawable(v, logY)) return;
      const x = plot.x + ci * slot + (slot - barW * nGroups) / 2 + gi * barW;
      const y = py(v);
      // On a log axis the bar starts at the axis minimum.
      const h = baseY - y;
      out.push(
        `<rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(barW - 2)}" height="${fmt(Math.max(0, h))}" fill="${color}"><title>${escapeXml(`${g.name}, ${spec.categories[ci]}: ${formatValue(v)}`)}</title></rect>`,
      );
      if (spec.valueLabels)
        out.push(
          `<text x="${fmt(x + (barW - 2) / 2)}" y="${fmt(y - 4)}" text-anchor="middle" font-size="10" fill="#333">${escapeXml(formatValue(v))}</text>`,
        );
    });
    out.push('</g>');
  });
  out.push(`<line x1="${plot.x}" y1="${baseY}" x2="${plot.x + plot.w}" y2="${baseY}" stroke="#333"/>`);
  labelLines.forEach((lines, ci) => {
    const cx = plot.x + ci * slot + slot / 2;
    lines.forEach((line, li) => {
      out.push(
        `<text x="${fmt(cx)}" y="${fmt(baseY + 18 + li * 13)}" text-anchor="middle" font-size="11" fill="#222">${escapeXml(line)}</text>`,
      );
    });
  });
  out.push(...legend(items, plot.x + plot.w + 22, plot.y + 8));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
