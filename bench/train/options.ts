// The command line both training benchmarks share (--quick, --json, --shapes, --runners): comma-separated
// lists checked against the known names, the shapes (--quick: the default shape alone unless --shapes
// says otherwise), the step plan and the matmul-peak sizes.
import { parseArgs } from 'node:util';
import { type BenchShape, benchModelShape, benchModelShapes } from '@prufed/model/testing';
import { peakSizes, type StepPlan } from './runners';

/** The names of a comma-separated list, all of them known; exits with status 2 naming an unknown one. */
export function pickNames<T extends string>(list: string, known: readonly T[], what: string): T[] {
  const names = list.split(',').filter(Boolean);
  const unknown = names.find((name) => !known.includes(name as T));
  if (unknown !== undefined) {
    console.error(`unknown ${what} "${unknown}"; use a comma-separated list of ${known.join(', ')}`);
    process.exit(2);
  }
  return names as T[];
}

export function pickShapes(list: string | undefined, quick: boolean): BenchShape[] {
  const known = benchModelShapes.map((s) => s.name);
  return pickNames(list ?? (quick ? 'default' : known.join(',')), known, 'shape').map(benchModelShape);
}

/** Slow runners get the fewest steps: as many as fit in the budget after the warm-up step. */
export function stepPlan(quick: boolean): StepPlan {
  return quick
    ? { warmup: 1, minSteps: 1, maxSteps: 3, budgetSeconds: 5 }
    : { warmup: 1, minSteps: 1, maxSteps: 10, budgetSeconds: 15 };
}

export const matmulPeakSizes = (quick: boolean): number[] => (quick ? peakSizes.slice(0, 2) : peakSizes);

/** Parses the shared flags; `allRunners` are the runners this benchmark knows (all by default). */
export function benchCommandLine<T extends string>(allRunners: readonly T[]) {
  const { values: flags } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      shapes: { type: 'string' },
      runners: { type: 'string', default: allRunners.join(',') },
    },
  });
  const quick = flags.quick === true;
  return {
    json: flags.json === true,
    shapes: pickShapes(flags.shapes, quick),
    runners: pickNames(flags.runners ?? allRunners.join(','), allRunners, 'runner'),
    plan: stepPlan(quick),
    sizes: matmulPeakSizes(quick),
  };
}
