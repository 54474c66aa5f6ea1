// A line chart (uPlot) in a fixed-size box, so pages do not jump as data arrives, with a labelled
// empty state when there is nothing to draw yet. Series share one x axis; null is a gap.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

export interface LineChartProps {
  title: string;
  xLabel: string;
  x: number[];
  series: ChartSeries[];
  /** Shown instead of the plot when x is empty. */
  empty: string;
  testId: string;
  width?: number;
  height?: number;
}

export function LineChart({
  title,
  xLabel,
  x,
  series,
  empty,
  testId,
  width = 440,
  height = 220,
}: LineChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = series.map((line) => line.label).join('\n');
  const data = [x, ...series.map((line) => line.values)] as uPlot.AlignedData;

  // Rebuild the plot when the set of series changes; otherwise only its data.
  // biome-ignore lint/correctness/useExhaustiveDependencies: series and data are read through `labels`
  useEffect(() => {
    if (box.current === null || x.length === 0) return;
    plot.current = new uPlot(
      {
        width,
        // Room for the caption above and the legend below.
        height: height - 64,
        legend: { show: true },
        scales: { x: { time: false } },
        // Whole-number ticks: the x axis counts rounds or steps.
        axes: [{ label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000] }, {}],
        series: [
          { label: xLabel },
          ...series.map((line) => ({ label: line.label, stroke: line.color, width: 2 })),
        ],
      },
      data,
      box.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [labels, x.length === 0, width, height, xLabel]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure className="chart" style={{ width, height }} data-testid={testId} data-points={x.length}>
      <figcaption>{title}</figcaption>
      {x.length === 0 ? <p className="empty">{empty}</p> : <div ref={box} />}
    </figure>
  );
}
