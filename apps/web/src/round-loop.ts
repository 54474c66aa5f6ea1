// The volunteer's round loop, the browser twin of `prufed volunteer`'s: after the model is loaded it
// says `ready`; on `round:start` it sets the global adapter slice, runs the configured local steps
// on the local data (seeded batches), reports `progress` per step, checkpoints after every step, and
// sends the trained adapter as an `update`; a `round:cancel`, `round:end` or stop that arrives
// between steps ends the local training early. After each round it says `ready` again. The
// transport is a RoundChannel (volunteer.ts wires it to Socket.IO), so tests drive the loop directly.
import type {
  ProgressReport,
  RoundCancelInfo,
  RoundEndInfo,
  RoundStartInfo,
  TrainConfig,
  UpdateAck,
  UpdateMeta,
} from '@prufed/fl';
import {
  type AdamWConfig,
  type Batch,
  defaultAdamW,
  type InstructionTokenizer,
  type LoraConfig,
  Rng,
  type TrainStepResult,
} from '@prufed/model';
import { type Checkpoint, type CheckpointStore, sha256Hex } from './checkpoint';
import { type LocalData, stepBatch } from './local-data';

/** What the loop sends to the coordinator. */
export interface RoundChannel {
  ready(): void;
  progress(progress: ProgressReport): void;
  update(meta: UpdateMeta, adapter: Uint8Array): Promise<UpdateAck>;
}

/** The trainer worker as the loop uses it (PEFT safetensors in and out). */
export interface RoundTrainer {
  setAdapter(peftSafetensors: Uint8Array, lora: LoraConfig): Promise<void>;
  trainStep(batch: Batch, optimizer: AdamWConfig): Promise<TrainStepResult>;
  readAdapter(): Promise<Uint8Array>;
}

/** What the coordinator sends, and a stop from the page (Leave, disconnect). */
export type RoundEvent =
  | { type: 'start'; info: RoundStartInfo; adapter: Uint8Array }
  | { type: 'cancel'; info: RoundCancelInfo }
  | { type: 'end'; info: RoundEndInfo }
  | { type: 'stop'; reason: string };

export interface LossPoint {
  round: number;
  step: number;
  loss: number;
}

/** The live view of the volunteer page, also saved in the checkpoint. */
export interface VolunteerStats {
  phase: 'waiting' | 'training' | 'uploading' | 'left';
  /** Round being trained or last trained; 0 before the first. */
  round: number;
  /** Local steps done in `round`, of localSteps. */
  step: number;
  localSteps: number;
  /** Training loss of every local step, oldest first (the last maxLossPoints). */
  losses: LossPoint[];
  /** Examples per second of the current or last round; null before the first step. */
  examplesPerSecond: number | null;
  /** Adapter payload bytes received (round:start) and sent (update). */
  bytesDown: number;
  bytesUp: number;
  /** Rounds whose new global includes this device's update. */
  roundsContributed: number;
  /** The last thing that happened to a round, in words. */
  lastOutcome: string;
}

export const maxLossPoints = 2000;

export function initialStats(): VolunteerStats {
  return {
    phase: 'waiting',
    round: 0,
    step: 0,
    localSteps: 0,
    losses: [],
    examplesPerSecond: null,
    bytesDown: 0,
    bytesUp: 0,
    roundsContributed: 0,
    lastOutcome: 'waiting to be sampled for a round',
  };
}

export interface RoundLoopOptions {
  channel: RoundChannel;
  trainer: RoundTrainer;
  lora: LoraConfig;
  data: LocalData;
  tokenizer: InstructionTokenizer;
  checkpoints: CheckpointStore;
  /** Called with a fresh copy of the statistics whenever they change. */
  onStats: (stats: VolunteerStats) => void;
  /** Milliseconds, for examples/s. */
  now?: () => number;
}

export class RoundLoop {
  private readonly events: RoundEvent[] = [];
  private wake: (() => void) | null = null;
  private stats: VolunteerStats;

  /** `restored`: the tab's checkpoint from before a reload, if any. */
  constructor(
    private readonly options: RoundLoopOptions,
    restored?: Checkpoint,
  ) {
    this.stats = restored ? { ...restored.stats, phase: 'waiting' } : initialStats();
  }

  /** Queues an event from the coordinator or the page; the loop takes it between local steps. */
  push(event: RoundEvent): void {
    this.events.push(event);
    this.wake?.();
  }

  /** Runs until a stop event; returns its reason. */
  async run(): Promise<string> {
    this.publish({});
    this.options.channel.ready();
    for (;;) {
      const event = await this.next();
      switch (event.type) {
        case 'stop':
          this.publish({ phase: 'left' });
          return event.reason;
        case 'start':
          await this.trainRound(event.info, event.adapter);
          break;
        case 'cancel':
          // The checkpoint stays: the same round from the same global resumes from it.
          this.publish({
            phase: 'waiting',
            lastOutcome: `round ${event.info.round} cancelled: ${event.info.reason}`,
          });
          this.options.channel.ready();
          break;
        case 'end':
          await this.endRound(event.info);
          this.options.channel.ready();
          break;
      }
    }
  }

  private async next(): Promise<RoundEvent> {
    while (this.events.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    return this.events.shift()!;
  }

  private publish(change: Partial<VolunteerStats>): void {
    Object.assign(this.stats, change);
    this.options.onStats({ ...this.stats, losses: [...this.stats.losses] });
  }

  private async save(training: Checkpoint['training']): Promise<void> {
    await this.options.checkpoints.save({ stats: { ...this.stats }, training });
  }

  /** Local training of one round, then the update; returns early when another event arrives. */
  private async trainRound(info: RoundStartInfo, globalAdapter: Uint8Array): Promise<void> {
    const { channel, trainer, lora, data, tokenizer, checkpoints } = this.options;
    const now = this.options.now ?? (() => performance.now());
    const { round, train, seed } = info;
    const globalDigest = await sha256Hex(globalAdapter);
    const saved = (await checkpoints.load())?.training;
    // Resuming restores the adapter and the step count; AdamW's moments start again from zero.
    const resume =
      saved && saved.round === round && saved.globalDigest === globalDigest && saved.step <= train.localSteps
        ? saved
        : null;
    await trainer.setAdapter(resume ? resume.adapter : globalAdapter, lora);
    let step = resume?.step ?? 0;
    this.publish({
      phase: 'training',
      round,
      step,
      localSteps: train.localSteps,
      examplesPerSecond: null,
      bytesDown: this.stats.bytesDown + globalAdapter.byteLength,
      lastOutcome: resume
        ? `round ${round}: resumed from the checkpoint at step ${step} (AdamW moments restart from zero)`
        : `round ${round}: training`,
    });
    const rng = new Rng(seed);
    const optimizer = optimizerFor(train);
    const started = now();
    while (step < train.localSteps) {
      if (this.events.length > 0) return;
      const { loss } = await trainer.trainStep(stepBatch(data, tokenizer, train, rng), optimizer);
      step++;
      channel.progress({ round, step, loss: Number.isFinite(loss) ? loss : 0 });
      const seconds = (now() - started) / 1000;
      this.stats.losses.push({ round, step, loss });
      this.stats.losses.splice(0, this.stats.losses.length - maxLossPoints);
      this.publish({
        step,
        examplesPerSecond: seconds > 0 ? ((step - (resume?.step ?? 0)) * train.batchSize) / seconds : null,
      });
      await this.save({ round, step, globalDigest, adapter: await trainer.readAdapter() });
    }
    if (this.events.length > 0) return;
    const roundLosses = this.stats.losses.filter((point) => point.round === round);
    const meanLoss =
      roundLosses.reduce((sum, point) => sum + point.loss, 0) / Math.max(1, roundLosses.length);
    const update = await trainer.readAdapter();
    this.publish({ phase: 'uploading', bytesUp: this.stats.bytesUp + update.byteLength });
    const ack = await channel.update(
      {
        round,
        numSamples: step * train.batchSize,
        metrics: { loss: Number.isFinite(meanLoss) ? meanLoss : 0 },
      },
      update,
    );
    this.publish({
      phase: 'waiting',
      lastOutcome: ack.accepted
        ? `round ${round}: update accepted, waiting for the round to end`
        : `round ${round}: update rejected (${ack.code}: ${ack.reason})`,
    });
  }

  private async endRound(info: RoundEndInfo): Promise<void> {
    const { round, included, aggregated } = info;
    this.publish({
      phase: 'waiting',
      roundsContributed: this.stats.roundsContributed + (included ? 1 : 0),
      lastOutcome: included
        ? `round ${round} ended: this device's update is in the new global`
        : `round ${round} ended without this device's update${aggregated ? '' : ' (no new global: too few updates)'}`,
    });
    // A retried round (no new global) starts again from the same global: keep what was trained.
    const saved = (await this.options.checkpoints.load())?.training ?? null;
    await this.save(!aggregated && saved?.round === round ? saved : null);
  }
}

function optimizerFor(train: TrainConfig): AdamWConfig {
  return { ...defaultAdamW, lr: train.learningRate };
}
