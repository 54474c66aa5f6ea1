// What both training benchmarks (main.ts: browsers and Node; node-gpu.ts: Node alone) make of a
// runner's step times: median step, tokens/s, GFLOP/s by one formula and the share of the adapter's
// matmul peak; and the cross-check of every runner's first losses and gradient norm against the
// reference runner (PruFed's CPU engine).
import os from 'node:os';
import type { BenchShape } from '@prufed/model/testing';
import { flopsPerStep } from './case';
import type { MatmulPeak, RunnerReport, StepPlan } from './runners';

/** Cross-check tolerances against the reference: float32 sums in different orders. */
export const crossCheckTolerance = { loss: 2e-3, gradNormRelative: 2e-2 };

export const flopFormula =
  'bench/train/case.ts flopsPerStep: matmul FLOPs, forward 1x + backward (frozen base 1x, LoRA and attention 2x)';

export interface Measured extends RunnerReport {
  shape: string;
  medianMs: number;
  tokensPerSecond: number;
  gflops: number;
  /** Share of the matmul peak of the adapter it ran on; null for CPU runners. */
  peakShare: number | null;
}

/** The target for the large shape: PruFed's WebGPU step at half the adapter's matmul peak. */
export const largeShapePeakShareTarget = 0.5;

/** The target line of a runner on the large shape, or none when it has no peak share (not run, CPU). */
export function largeShapeTargetLine(results: Measured[], runner: string, label: string): string[] {
  const large = results.find((r) => r.shape === 'large' && r.runner === runner);
  if (large?.peakShare == null) return [];
  const met = large.peakShare >= largeShapePeakShareTarget;
  return [
    `large: ${label} at ${(100 * large.peakShare).toFixed(0)}% of the adapter's matmul peak ` +
      `(target >= ${100 * largeShapePeakShareTarget}%: ${met ? 'met' : 'NOT met'})`,
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function measure(shape: BenchShape, report: RunnerReport, peak: MatmulPeak | null): Measured {
  const medianMs = median(report.stepMs);
  const gflops = (flopsPerStep(shape) / medianMs) * 1e-6;
  return {
    ...report,
    shape: shape.name,
    medianMs,
    tokensPerSecond: (shape.B * shape.T * 1000) / medianMs,
    gflops,
    peakShare: peak === null ? null : gflops / peak.gflops,
  };
}

/** Differences from the reference runner (else each shape's first) beyond tolerance, as readable lines. */
export function crossCheck(results: Measured[], referenceRunner: string): string[] {
  const tolerance = crossCheckTolerance;
  const problems: string[] = [];
  for (const shape of new Set(results.map((r) => r.shape))) {
    const ofShape = results.filter((r) => r.shape === shape);
    const reference = ofShape.find((r) => r.runner === referenceRunner) ?? ofShape[0];
    for (const r of ofShape) {
      const checks: [string, number, number, boolean][] = [
        [
          'step-1 loss',
          r.losses[0],
          reference.losses[0],
          Math.abs(r.losses[0] - reference.losses[0]) <= tolerance.loss,
        ],
        [
          'step-1 grad norm',
          r.gradNorms[0],
          reference.gradNorms[0],
          Math.abs(r.gradNorms[0] - reference.gradNorms[0]) <=
            tolerance.gradNormRelative * reference.gradNorms[0],
        ],
        [
          'step-2 loss',
          r.losses[1],
          reference.losses[1],
          Math.abs(r.losses[1] - reference.losses[1]) <= tolerance.loss,
        ],
      ];
      for (const [what, got, want, ok] of checks) {
        if (!ok)
          problems.push(`${shape} ${r.runner}: ${what} ${got} differs from ${reference.runner}'s ${want}`);
      }
    }
  }
  return problems;
}

/** The JSON both benchmarks print: machine and load, plan, peaks, shapes, results, cross-check, targets. */
export function benchSummary<P, R, S>(run: {
  loadBefore: number[];
  started: number;
  plan: StepPlan;
  peaks: P;
  shapes: BenchShape[];
  results: R[];
  skipped: S[];
  problems: string[];
  targets: string[];
}) {
  return {
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      loadBefore: run.loadBefore,
      loadAfter: os.loadavg(),
    },
    plan: run.plan,
    seconds: (performance.now() - run.started) / 1000,
    flopFormula,
    peaks: run.peaks,
    shapes: run.shapes.map((s) => ({ ...s, flopsPerStep: flopsPerStep(s) })),
    results: run.results,
    skipped: run.skipped,
    crossCheck: run.problems.length === 0 ? 'ok' : run.problems,
    targets: run.targets,
  };
}
