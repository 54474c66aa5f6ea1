import { describe, expect, it } from 'vitest';
import { groupedBarChart, linearScale, lineChart, niceTicks, smallMultiples } from './svg';
import { countClass, parseXml } from './xml-check';

describe('svg', () => {
  it('places round ticks and scales linearly', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.87, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(3, 3)).toEqual([3]);
    const y = linearScale([0, 1], [300, 100]);
    expect(y(0)).toBe(300);
    expect(y(0.25)).toBe(250);
  });

  it('draws one bar per finite value and one whisker per positive error', () => {
    const svg = groupedBarChart(
      [
        { label: '9 kept', values: [0.5, 0.25, Number.NaN], errors: [0.05, 0, 0.1] },
        { label: '6 kept <&>', values: [0.4, 0.2, 0.1], errors: [0.02, 0.01, 0.03] },
      ],
      ['top', 'symmetric', 'angular'],
      {
        title: 'metric after fine-tuning',
        yLabel: 'exact match',
        xLabel: 'depth',
        referenceLines: [{ value: 0.3, label: 'full' }],
      },
    );
    const elements = parseXml(svg);
    expect(elements[0].name).toBe('svg');
    expect(countClass(elements, 'bar')).toBe(5);
    expect(countClass(elements, 'error')).toBe(4);
    expect(countClass(elements, 'legend-item')).toBe(3);
    expect(countClass(elements, 'reference')).toBe(1);
    expect(svg).toContain('6 kept &lt;&amp;&gt;');
    // a value 0.5 on a 0..0.6 axis: the bar is 5/6 of the plot height (360 - 48 - 36 = 276 px)
    const first = elements.find((e) => e.attributes.class === 'bar')!;
    expect(Number(first.attributes.height)).toBeCloseTo((276 * 5) / 6, 0);
  });

  it('draws a line and points per series, whiskers where there is an error', () => {
    const svg = lineChart(
      [
        { name: 'heterogeneous', points: [1, 2, 3].map((x) => ({ x, y: x / 10, error: 0.01 })) },
        { name: 'homogeneous', points: [1, 2, 3, 4].map((x) => ({ x, y: x / 20 })) },
      ],
      { xLabel: 'round', yLabel: 'loss' },
    );
    const elements = parseXml(svg);
    expect(countClass(elements, 'line')).toBe(2);
    expect(countClass(elements, 'point')).toBe(7);
    expect(countClass(elements, 'error')).toBe(3);
    const homogeneous = elements.filter((e) => e.attributes.class === 'line')[1];
    expect(homogeneous.attributes.d.match(/[ML]/g)).toHaveLength(4);
  });

  it('lays charts out in a grid that is one well-formed document', () => {
    const chart = lineChart([{ name: 'a', points: [{ x: 0, y: 1 }] }], { width: 300, height: 200 });
    const grid = smallMultiples([chart, chart, chart], 2, 'three panels');
    const elements = parseXml(grid);
    expect(elements.filter((e) => e.name === 'svg')).toHaveLength(4);
    expect(elements[0].attributes.width).toBe('600');
    expect(elements[0].attributes.height).toBe('432');
    expect(countClass(elements, 'line')).toBe(3);
  });

  it('refuses a bar group with the wrong number of values, and the check refuses broken XML', () => {
    expect(() => groupedBarChart([{ label: 'x', values: [1] }], ['a', 'b'])).toThrow(/one per series/);
    expect(() => parseXml('<svg><g></svg>')).toThrow(/closes/);
    expect(() => parseXml('<svg a="1 & 2"/>')).toThrow(/unescaped/);
  });
});
