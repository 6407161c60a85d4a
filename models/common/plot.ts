/**
 * Loss curves as a standalone SVG (no dependency): one panel per series, each with its own y range,
 * the raw values in a light line and an exponential moving average on top.
 */
import type { LogRecord } from './jsonl.js';

export interface PlotOptions {
  title?: string;
  /** EMA weight of the smoothed line (0 = none). Default 0.9. */
  smooth?: number;
  /** Panels per row. Default 2. */
  cols?: number;
}

const W = 420,
  H = 220,
  M = { l: 52, r: 14, t: 26, b: 30 };

/** Five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1,
    raw = span / 4,
    mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel(name: string, xs: number[], ys: number[], smooth: number, x0: number, y0: number): string {
  const finite = ys.filter(Number.isFinite);
  if (finite.length === 0) return `<text x="${x0 + M.l}" y="${y0 + H / 2}">${esc(name)}: no data</text>`;
  let lo = Math.min(...finite),
    hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const xmin = xs[0],
    xmax = Math.max(xs[xs.length - 1], xmin + 1);
  const px = (x: number): number => x0 + M.l + ((x - xmin) / (xmax - xmin)) * (W - M.l - M.r);
  const py = (y: number): number => y0 + M.t + (1 - (y - lo) / (hi - lo)) * (H - M.t - M.b);
  const path = (vals: number[]): string =>
    vals
      .map((v, i) => (Number.isFinite(v) ? `${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
  let ema = NaN;
  const sm = ys.map((v) =>
    Number.isFinite(v) ? (ema = Number.isNaN(ema) ? v : smooth * ema + (1 - smooth) * v) : ema,
  );
  const yt = ticks(lo, hi)
    .map(
      (v) =>
        `<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>` +
        `<text x="${x0 + M.l - 4}" y="${py(v) + 4}" text-anchor="end">${v}</text>`,
    )
    .join('');
  const xt = ticks(xmin, xmax)
    .map((v) => `<text x="${px(v)}" y="${y0 + H - M.b + 16}" text-anchor="middle">${v}</text>`)
    .join('');
  return (
    `<g>${yt}${xt}<rect x="${x0 + M.l}" y="${y0 + M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#999"/>` +
    `<polyline points="${path(ys)}" fill="none" stroke="#9ecae1" stroke-width="1"/>` +
    (smooth > 0 ? `<polyline points="${path(sm)}" fill="none" stroke="#08519c" stroke-width="2"/>` : '') +
    `<text x="${x0 + M.l}" y="${y0 + 17}" font-weight="bold">${esc(name)}</text>` +
    `<text x="${x0 + W - M.r}" y="${y0 + 17}" text-anchor="end">last ${sm[sm.length - 1]?.toFixed(3)}</text></g>`
  );
}

/** An SVG document with one panel per key of `keys` over the records' steps. */
export function lossCurvesSvg(records: readonly LogRecord[], keys: readonly string[], opts: PlotOptions = {}): string {
  const cols = Math.min(opts.cols ?? 2, Math.max(keys.length, 1)),
    rows = Math.ceil(keys.length / cols),
    top = opts.title ? 30 : 0;
  const xs = records.map((r) => r.step);
  const panels = keys.map((k, i) =>
    panel(
      k,
      xs,
      records.map((r) => (typeof r[k] === 'number' ? (r[k] as number) : NaN)),
      opts.smooth ?? 0.9,
      (i % cols) * W,
      top + Math.floor(i / cols) * H,
    ),
  );
  const title = opts.title
    ? `<text x="${(cols * W) / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`
    : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${top + rows * H}" font-family="sans-serif" font-size="11">` +
    `<rect width="100%" height="100%" fill="white"/>${title}${panels.join('')}</svg>\n`
  );
}
