// Dependency-free SVG charts for the study reports (docs/results/*), small enough to read in one
// sitting. Every function returns SVG text; charts are standalone documents (xmlns set) that also
// nest inside `smallMultiples`. Elements carry classes tests can count: `bar`, `error`, `line`,
// `point`, `tick`, `legend-item`, `reference`.
//
// API
//   lineChart(series, opts)             one line per series over numeric x, optional error band per
//                                       point drawn as vertical whiskers; e.g. a metric per round:
//     lineChart([{ name: 'HeteAgg', points: [{ x: 1, y: 0.2, error: 0.01 }, ...] }, ...],
//               { title: 'test metric per round', xLabel: 'round', yLabel: 'exact match' })
//   groupedBarChart(groups, seriesNames, opts)
//                                       a cluster of bars per group (x category), one bar per series
//                                       (legend), each with an optional ± error whisker; NaN values
//                                       draw no bar.
//   smallMultiples(charts, columns, title?)
//                                       several charts (each one of the above) in a grid, one document.
//   ChartOptions                        title, xLabel, yLabel, width/height (px, default 640x360),
//                                       yMin/yMax (default: from the data, 0 included for bars),
//                                       formatY (tick labels, default up to 3 significant digits),
//                                       referenceLines (dashed horizontal lines with a label, e.g. the
//                                       unpruned model; class `reference`).
//   Lower level, for new chart kinds: frameOf, linearScale, niceTicks, axes, referenceLines, legend, palette,
//   escapeXml.
import { InputError } from '@prufed/model';

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  yMin?: number;
  yMax?: number;
  formatY?: (value: number) => string;
  referenceLines?: { value: number; label: string }[];
}

export interface LinePoint {
  x: number;
  y: number;
  /** Half-length of the whisker drawn at this point (e.g. a standard deviation). */
  error?: number;
}

export interface LineSeries {
  name: string;
  points: LinePoint[];
}

export interface BarGroup {
  label: string;
  /** One value per series, in seriesNames order; NaN for a missing bar. */
  values: number[];
  /** Optional ± whisker per series. */
  errors?: number[];
}

/** Colour-blind-safe categorical colours (Okabe-Ito), cycled when there are more series. */
export const palette = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

const colour = (i: number) => palette[i % palette.length];

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Maps [d0, d1] linearly onto [r0, r1]; a zero-width domain maps to the middle of the range. */
export function linearScale(domain: [number, number], range: [number, number]): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (value) => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0);
}

/** About `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new InputError(`cannot place ticks on [${min}, ${max}]: the chart's data holds no finite number`);
  }
  if (max === min) return [min];
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

const defaultFormat = (value: number) => String(Number(value.toPrecision(3)));

/** The pixel box of a chart: the whole document, and the plot area inside the margins. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function frameOf(opts: ChartOptions): Frame {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  return { width, height, left: 64, right: width - 150, top: opts.title ? 36 : 16, bottom: height - 48 };
}

/**
 * The plot frame: x and y axis lines, y ticks with grid lines, x tick labels at given pixel
 * positions, axis labels and title.
 */
export function axes(
  frame: Frame,
  yTicks: number[],
  y: (value: number) => number,
  xTicks: { at: number; label: string }[],
  opts: ChartOptions,
): string {
  const format = opts.formatY ?? defaultFormat;
  const parts = [
    `<line x1="${frame.left}" y1="${frame.bottom}" x2="${frame.right}" y2="${frame.bottom}" stroke="#333"/>`,
    `<line x1="${frame.left}" y1="${frame.top}" x2="${frame.left}" y2="${frame.bottom}" stroke="#333"/>`,
  ];
  for (const t of yTicks) {
    const py = y(t).toFixed(1);
    parts.push(
      `<g class="tick"><line x1="${frame.left}" y1="${py}" x2="${frame.right}" y2="${py}" stroke="#ddd"/>` +
        `<text x="${frame.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(format(t))}</text></g>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<g class="tick"><line x1="${t.at.toFixed(1)}" y1="${frame.bottom}" x2="${t.at.toFixed(1)}" y2="${frame.bottom + 4}" stroke="#333"/>` +
        `<text x="${t.at.toFixed(1)}" y="${frame.bottom + 16}" text-anchor="middle">${escapeXml(t.label)}</text></g>`,
    );
  }
  const midX = (frame.left + frame.right) / 2;
  const midY = (frame.top + frame.bottom) / 2;
  if (opts.xLabel) {
    parts.push(
      `<text x="${midX}" y="${frame.height - 8}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
    );
  }
  if (opts.yLabel) {
    parts.push(
      `<text x="14" y="${midY}" text-anchor="middle" transform="rotate(-90 14 ${midY})">${escapeXml(opts.yLabel)}</text>`,
    );
  }
  if (opts.title) {
    parts.push(
      `<text x="${frame.width / 2}" y="20" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`,
    );
  }
  return parts.join('\n');
}

/** Dashed horizontal lines with labels (opts.referenceLines), drawn over the data. */
export function referenceLines(frame: Frame, y: (value: number) => number, opts: ChartOptions): string {
  const parts: string[] = [];
  // labels alternate between the right and the left end, so that two close lines stay readable
  (opts.referenceLines ?? []).forEach((line, i) => {
    const py = y(line.value).toFixed(1);
    const [x, anchor] = i % 2 === 0 ? [frame.right - 4, 'end'] : [frame.left + 4, 'start'];
    parts.push(
      `<g class="reference"><line x1="${frame.left}" y1="${py}" x2="${frame.right}" y2="${py}" stroke="#555" stroke-dasharray="5 3"/>` +
        `<text x="${x}" y="${Number(py) - 4}" text-anchor="${anchor}" fill="#555">${escapeXml(line.label)}</text></g>`,
    );
  });
  return parts.join('\n');
}

/** A legend: a colour swatch and a name per series, stacked from (x, y). */
export function legend(names: string[], x: number, y: number): string {
  return names
    .map(
      (name, i) =>
        `<g class="legend-item"><rect x="${x}" y="${y + i * 18}" width="12" height="12" fill="${colour(i)}"/>` +
        `<text x="${x + 18}" y="${y + i * 18 + 10}">${escapeXml(name)}</text></g>`,
    )
    .join('\n');
}

/** A vertical whisker from value-error to value+error at pixel x, with caps. */
function whisker(px: number, value: number, error: number, y: (value: number) => number): string {
  const lo = y(value - error).toFixed(1);
  const hi = y(value + error).toFixed(1);
  const a = (px - 3).toFixed(1);
  const b = (px + 3).toFixed(1);
  const x = px.toFixed(1);
  return `<path class="error" d="M${x} ${lo}V${hi}M${a} ${lo}H${b}M${a} ${hi}H${b}" stroke="#222" fill="none"/>`;
}

function document(frame: Frame, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.width}" height="${frame.height}" ` +
    `viewBox="0 0 ${frame.width} ${frame.height}" font-family="sans-serif" font-size="11">\n` +
    `<rect width="${frame.width}" height="${frame.height}" fill="white"/>\n${body}\n</svg>\n`
  );
}

/**
 * The y range of finite values ± errors, widened to include `include`, then out to the nearest
 * round ticks (unless opts fix an end).
 */
function yDomain(values: [number, number][], opts: ChartOptions, include: number[]): [number, number] {
  const finite = [
    ...values,
    ...(opts.referenceLines ?? []).map((r): [number, number] => [r.value, 0]),
  ].filter(([v, e]) => Number.isFinite(v) && Number.isFinite(e));
  const low = opts.yMin ?? Math.min(...include, ...finite.map(([v, e]) => v - e));
  const high = opts.yMax ?? Math.max(...include, ...finite.map(([v, e]) => v + e));
  // all values equal (e.g. every metric 0): a unit range above them
  const [lo, hi] = low === high ? [low, low + 1] : [low, high];
  const ticks = niceTicks(lo, hi);
  if (ticks.length < 2) return [lo, hi];
  const step = ticks[1] - ticks[0];
  const round = (x: number) => Number(x.toPrecision(12));
  return [
    opts.yMin ?? round(Math.floor(lo / step + 1e-9) * step),
    opts.yMax ?? round(Math.ceil(hi / step - 1e-9) * step),
  ];
}

export function groupedBarChart(groups: BarGroup[], seriesNames: string[], opts: ChartOptions = {}): string {
  for (const group of groups) {
    if (
      group.values.length !== seriesNames.length ||
      (group.errors && group.errors.length !== seriesNames.length)
    ) {
      throw new InputError(
        `bar group "${group.label}" has ${group.values.length} values for ${seriesNames.length} series; give one per series`,
      );
    }
  }
  const frame = frameOf(opts);
  const data = groups.flatMap((g) => g.values.map((v, i): [number, number] => [v, g.errors?.[i] ?? 0]));
  const [y0, y1] = yDomain(data, opts, [0]);
  const y = linearScale([y0, y1], [frame.bottom, frame.top]);
  const slot = (frame.right - frame.left) / Math.max(1, groups.length);
  const barWidth = (slot * 0.8) / Math.max(1, seriesNames.length);
  const parts: string[] = [];
  groups.forEach((group, g) => {
    group.values.forEach((value, s) => {
      if (!Number.isFinite(value)) return;
      const x = frame.left + g * slot + slot * 0.1 + s * barWidth;
      const top = Math.min(y(value), y(0));
      const height = Math.abs(y(value) - y(0));
      parts.push(
        `<rect class="bar" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" ` +
          `height="${height.toFixed(1)}" fill="${colour(s)}"><title>${escapeXml(`${group.label} · ${seriesNames[s]}: ${value}`)}</title></rect>`,
      );
      const error = group.errors?.[s];
      if (error !== undefined && Number.isFinite(error) && error > 0) {
        parts.push(whisker(x + barWidth / 2, value, error, y));
      }
    });
  });
  const xTicks = groups.map((group, g) => ({ at: frame.left + (g + 0.5) * slot, label: group.label }));
  return document(
    frame,
    [
      axes(frame, niceTicks(y0, y1), y, xTicks, opts),
      ...parts,
      referenceLines(frame, y, opts),
      legend(seriesNames, frame.right + 16, frame.top),
    ].join('\n'),
  );
}

export function lineChart(series: LineSeries[], opts: ChartOptions = {}): string {
  const frame = frameOf(opts);
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) throw new InputError('lineChart needs at least one point');
  const xs = points.map((p) => p.x);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const x = linearScale([x0, x1], [frame.left + 8, frame.right - 8]);
  const [y0, y1] = yDomain(
    points.map((p): [number, number] => [p.y, p.error ?? 0]),
    opts,
    [],
  );
  const y = linearScale([y0, y1], [frame.bottom, frame.top]);
  const parts: string[] = [];
  series.forEach((s, i) => {
    const finite = s.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (finite.length === 0) return;
    const d = finite
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.x).toFixed(1)} ${y(p.y).toFixed(1)}`)
      .join('');
    parts.push(`<path class="line" d="${d}" stroke="${colour(i)}" stroke-width="2" fill="none"/>`);
    for (const p of finite) {
      parts.push(
        `<circle class="point" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="2.5" fill="${colour(i)}"/>`,
      );
      if (p.error !== undefined && Number.isFinite(p.error) && p.error > 0)
        parts.push(whisker(x(p.x), p.y, p.error, y));
    }
  });
  const xTicks = niceTicks(x0, x1).map((t) => ({ at: x(t), label: defaultFormat(t) }));
  return document(
    frame,
    [
      axes(frame, niceTicks(y0, y1), y, xTicks, opts),
      ...parts,
      referenceLines(frame, y, opts),
      legend(
        series.map((s) => s.name),
        frame.right + 16,
        frame.top,
      ),
    ].join('\n'),
  );
}

/** Lays out standalone chart documents in a grid of `columns`, with an optional overall title. */
export function smallMultiples(charts: string[], columns: number, title?: string): string {
  const sizes = charts.map((chart) => {
    const match = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(chart);
    if (!match)
      throw new InputError(
        'smallMultiples takes charts made by this module (an <svg> with width and height)',
      );
    return { width: Number(match[1]), height: Number(match[2]) };
  });
  const cellWidth = Math.max(...sizes.map((s) => s.width));
  const cellHeight = Math.max(...sizes.map((s) => s.height));
  const top = title ? 32 : 0;
  const rows = Math.ceil(charts.length / columns);
  const frame: Frame = {
    width: cellWidth * Math.min(columns, charts.length),
    height: top + cellHeight * rows,
    left: 0,
    right: 0,
    top: 0,
    bottom: 0,
  };
  const cells = charts.map((chart, i) => {
    const cx = (i % columns) * cellWidth;
    const cy = top + Math.floor(i / columns) * cellHeight;
    return chart
      .trimEnd()
      .replace(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `<svg x="${cx}" y="${cy}"`);
  });
  const heading = title
    ? `<text x="${frame.width / 2}" y="22" text-anchor="middle" font-weight="bold" font-size="14">${escapeXml(title)}</text>\n`
    : '';
  return document(frame, heading + cells.join('\n'));
}
