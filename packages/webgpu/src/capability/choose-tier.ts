// Capability -> tier: the deepest pruned variant whose buffers fit this device's memory and
// adapter limits and whose local round fits the time budget, with reasons in plain sentences for
// the volunteer page. Without WebGPU (or when no variant's buffers fit the adapter's binding
// limits) the CPU engine trains the smallest variant. `?tier=` overrides the choice.
import { ConfigError, InputError, type LlamaConfig } from '@prufed/model';
import { estimateVariant, type TrainShape, type VariantEstimate } from './estimate';
import type { CapabilityReport, WebGpuCapability } from './probe';

export interface TierModel<Tier extends string> {
  config: LlamaConfig;
  /** Kept decoder layers per tier, e.g. { a: L, b: 3L/4, c: L/2 }. */
  tiers: Record<Tier, number>;
}

export interface TierBudget {
  /** Longest acceptable local round (localSteps training steps), in seconds. */
  maxRoundSeconds: number;
  /** Share of navigator.deviceMemory that training may use, in (0, 1]. */
  memoryFraction: number;
  /**
   * Share of the benchmark's matmul rate that a whole training step reaches (attention,
   * elementwise kernels, dispatch overhead); default 0.5.
   */
  efficiency?: number;
}

export interface TierChoice<Tier extends string> {
  tier: Tier;
  keptLayerCount: number;
  engine: 'webgpu' | 'cpu';
  /** Sentences with the numbers behind the choice, for the volunteer page. */
  reasons: string[];
}

/** Assumed where navigator.deviceMemory is missing (Firefox, Safari): a mid-range laptop's report. */
export const assumedDeviceMemoryGiB = 4;
const defaultEfficiency = 0.5;

const GiB = 2 ** 30;
const MiB = 2 ** 20;

function formatBytes(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

function formatSeconds(seconds: number): string {
  return seconds >= 10 ? `${Math.round(seconds)} s` : `${seconds.toFixed(1)} s`;
}

interface Assessment {
  estimate: VariantEstimate;
  /** Broken adapter limits: the WebGPU engine cannot hold this variant at all. */
  bindingProblem: string | null;
  /** Memory and time over budget, as sentences. */
  budgetProblems: string[];
  summary: string;
}

function assess(
  webgpu: WebGpuCapability,
  gflops: number,
  estimate: VariantEstimate,
  memoryBudget: { bytes: number; source: string },
  train: TrainShape,
  budget: TierBudget,
): Assessment {
  const { memory } = estimate;
  const [limitName, limit] =
    webgpu.limits.maxStorageBufferBindingSize <= webgpu.limits.maxBufferSize
      ? ['maxStorageBufferBindingSize', webgpu.limits.maxStorageBufferBindingSize]
      : ['maxBufferSize', webgpu.limits.maxBufferSize];
  const bindingProblem =
    memory.largestBinding > limit
      ? `its largest buffer, ${memory.largestBindingName}, takes ${formatBytes(memory.largestBinding)}, over this adapter's ${limitName} of ${formatBytes(limit)}`
      : null;
  const budgetProblems: string[] = [];
  const needs =
    `needs ${formatBytes(memory.total)} (weights ${formatBytes(memory.weights)}, activations ` +
    `${formatBytes(memory.activations)}, adapter ${formatBytes(memory.adapter)}, optimizer ${formatBytes(memory.optimizer)})`;
  if (memory.total > memoryBudget.bytes) {
    budgetProblems.push(
      `${needs}, over the ${formatBytes(memoryBudget.bytes)} memory budget (${memoryBudget.source})`,
    );
  }
  const efficiency = budget.efficiency ?? defaultEfficiency;
  const seconds = estimate.flopsPerRound / (gflops * 1e9 * efficiency);
  const timing =
    `about ${formatSeconds(seconds)} per local round (${train.localSteps} steps of ` +
    `${(estimate.flopsPerStep / 1e9).toFixed(1)} GFLOP at ${gflops.toFixed(1)} GFLOP/s measured x ${efficiency} efficiency)`;
  if (seconds > budget.maxRoundSeconds) {
    budgetProblems.push(`${timing}, over the ${formatSeconds(budget.maxRoundSeconds)} limit`);
  }
  const summary = `${needs} of ${formatBytes(memoryBudget.bytes)}, ${timing} of ${formatSeconds(budget.maxRoundSeconds)}`;
  return { estimate, bindingProblem, budgetProblems, summary };
}

function describeTier(tier: string, estimate: VariantEstimate, config: LlamaConfig): string {
  return `tier ${tier} (${estimate.keptLayerCount} of ${config.numHiddenLayers} layers)`;
}

function verdict(assessment: Assessment): string {
  const problems = [assessment.bindingProblem, ...assessment.budgetProblems].filter((p) => p !== null);
  return problems.length === 0 ? `fits: ${assessment.summary}` : `does not fit: ${problems.join('; ')}`;
}

function checkInputs<Tier extends string>(model: TierModel<Tier>, budget: TierBudget): Tier[] {
  const names = Object.keys(model.tiers) as Tier[];
  if (names.length === 0) {
    throw new ConfigError('the model lists no tiers; give each tier its kept layer count');
  }
  if (!(budget.maxRoundSeconds > 0)) {
    throw new InputError(`maxRoundSeconds must be positive, got ${budget.maxRoundSeconds}`);
  }
  if (!(budget.memoryFraction > 0 && budget.memoryFraction <= 1)) {
    throw new InputError(`memoryFraction must be in (0, 1], got ${budget.memoryFraction}`);
  }
  if (budget.efficiency !== undefined && !(budget.efficiency > 0 && budget.efficiency <= 1)) {
    throw new InputError(`efficiency must be in (0, 1], got ${budget.efficiency}`);
  }
  // Deepest first; estimateVariant rejects depths outside 1..L.
  return names.sort((x, y) => model.tiers[y] - model.tiers[x]);
}

/**
 * Chooses the tier and engine for this device. `override` is the page's ?tier= value (null when
 * absent): a known tier wins, and the reasons say whether it would fit; an unknown one is ignored.
 */
export function chooseTier<Tier extends string>(
  report: CapabilityReport,
  model: TierModel<Tier>,
  train: TrainShape,
  budget: TierBudget,
  override: string | null = null,
): TierChoice<Tier> {
  const deepestFirst = checkInputs(model, budget);
  const estimates = new Map(
    deepestFirst.map((t) => [t, estimateVariant(model.config, model.tiers[t], train)]),
  );
  const smallest = deepestFirst[deepestFirst.length - 1];
  const reasons: string[] = [];
  const forced = deepestFirst.find((t) => t === override);
  if (override !== null && forced === undefined) {
    reasons.push(`?tier=${override} ignored: use one of ${deepestFirst.join(', ')}`);
  }
  const choice = (tier: Tier, engine: 'webgpu' | 'cpu'): TierChoice<Tier> => ({
    tier,
    keptLayerCount: model.tiers[tier],
    engine,
    reasons,
  });

  const cpuFallback = (why: string): TierChoice<Tier> => {
    const tier = forced ?? smallest;
    const what = forced === undefined ? 'the smallest variant' : `?tier=${forced} as asked`;
    reasons.push(
      `${why}; the CPU engine trains ${what}, ${describeTier(tier, estimates.get(tier)!, model.config)}`,
    );
    return choice(tier, 'cpu');
  };
  const webgpu = report.webgpu;
  if (webgpu === null) return cpuFallback(`no WebGPU: ${report.noWebGpu ?? 'navigator.gpu is missing'}`);
  const measured = webgpu.benchmark;
  if ('error' in measured) return cpuFallback(`WebGPU failed its benchmark (${measured.error})`);

  const gflops = measured.gflops;
  const deviceMemory = report.deviceMemoryGiB ?? assumedDeviceMemoryGiB;
  const memorySource =
    `${Math.round(budget.memoryFraction * 100)}% of ` +
    (report.deviceMemoryGiB === null
      ? `an assumed ${assumedDeviceMemoryGiB} GiB (the browser does not report navigator.deviceMemory)`
      : `navigator.deviceMemory ${deviceMemory} GiB`);
  const memoryBudget = { bytes: deviceMemory * GiB * budget.memoryFraction, source: memorySource };
  const assessments = new Map(
    deepestFirst.map((t) => [t, assess(webgpu, gflops, estimates.get(t)!, memoryBudget, train, budget)]),
  );
  const line = (tier: Tier) =>
    `${describeTier(tier, estimates.get(tier)!, model.config)} ${verdict(assessments.get(tier)!)}`;
  const engineFor = (tier: Tier) => (assessments.get(tier)!.bindingProblem === null ? 'webgpu' : 'cpu');
  const adapterName =
    webgpu.adapter.description || `${webgpu.adapter.vendor} ${webgpu.adapter.architecture}`.trim();

  if (forced !== undefined) {
    const engine = engineFor(forced);
    reasons.push(
      `?tier=${forced} override on ${engine === 'webgpu' ? `WebGPU (${adapterName})` : 'the CPU engine'}: ${line(forced)}`,
    );
    return choice(forced, engine);
  }
  for (const tier of deepestFirst) {
    const assessment = assessments.get(tier)!;
    reasons.push(line(tier));
    if (assessment.bindingProblem === null && assessment.budgetProblems.length === 0) {
      reasons.push(`chose tier ${tier} on WebGPU (${adapterName})`);
      return choice(tier, 'webgpu');
    }
  }
  const engine = engineFor(smallest);
  const overBudget = assessments.get(smallest)!.budgetProblems.length > 0;
  reasons.push(
    engine === 'cpu'
      ? `no tier fits this adapter's limits: the CPU engine trains the smallest variant, tier ${smallest}` +
          (overBudget ? ', over budget there too; the server may re-balance' : '')
      : `no tier fits every budget: WebGPU (${adapterName}) trains the smallest variant, tier ${smallest}, anyway; the server may re-balance`,
  );
  return choice(smallest, engine);
}
