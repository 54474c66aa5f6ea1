// The Socket.IO protocol between the coordinator, the volunteers and the dashboard: payload types,
// the typed event maps (Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents,
// SocketData> on the server, Socket<ServerToClientEvents, ClientToServerEvents> in the browser) and
// the discriminated union of every message. Event names are a contract (DESIGN.md). Binary
// payloads travel as binary attachments: adapter bytes are PEFT safetensors. Runtime guards for
// what arrives from the network live in guards.ts.
import type { LoraConfig, PartitionOptions } from '@prufed/model';
import type { SamplingOptions } from './sampling';
import type { RoundMetrics, Tier, TrainConfig } from './types';
import type { RejectionCode } from './validate';

/** 2: hello carries `resume`, the ack the data assignment and a resume token. */
export const protocolVersion = 2;

/** Socket.IO namespace of the researcher dashboard (the volunteers use the default one). */
export const dashboardNamespace = '/dashboard';

/** Adapter bytes as Socket.IO delivers them: Buffer (a Uint8Array) in Node, ArrayBuffer in browsers. */
export type Bytes = Uint8Array | ArrayBuffer;

export interface GpuReport {
  vendor: string;
  architecture: string;
  description: string;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** What a volunteer's device can do and the tier it picked for itself (the server may re-balance). */
export interface HelloReport {
  protocolVersion: number;
  engine: 'webgpu' | 'cpu';
  preferredTier: Tier;
  /** Why the device picked that tier (memory and time estimates, or a ?tier= override). */
  tierReason: string;
  gpu: GpuReport | null;
  /** navigator.deviceMemory; null where the browser does not expose it. */
  deviceMemoryGb: number | null;
  /** A reconnecting client's claim on the round it was training (from its first hello ack). */
  resume?: ResumeRequest;
}

/** Sent by a client that lost its connection mid-round and wants to finish that round. */
export interface ResumeRequest {
  clientId: string;
  round: number;
  /** The resumeToken of the client's first hello ack: only that client can take its slot back. */
  token: string;
}

/** Which part of a task's train split a client trains on: @prufed/model's clientShard options. */
export interface DataShard {
  index: number;
  count: number;
  scheme: 'dirichlet' | 'iid';
  /** Dirichlet concentration; null for 'iid'. */
  alpha: number | null;
  seed: number;
}

/** The options of @prufed/model's clientShard (and partition) that cut out this shard. */
export function shardPartition(shard: DataShard): PartitionOptions {
  return { clients: shard.count, scheme: shard.scheme, alpha: shard.alpha ?? undefined, seed: shard.seed };
}

/** The assignment in words, e.g. "shard 3 of 10 (dirichlet, alpha 0.5, seed 0) of the define train split". */
export function describeData(data: DataAssignment): string {
  const split = `the ${data.task} train split`;
  const shard = data.shard;
  if (shard === null) return `all of ${split}`;
  const alpha = shard.alpha === null ? '' : `, alpha ${shard.alpha}`;
  return `shard ${shard.index} of ${shard.count} (${shard.scheme}${alpha}, seed ${shard.seed}) of ${split}`;
}

/** The public data a client trains on unless its volunteer brings their own file. */
export interface DataAssignment {
  /** WordNet task name (define, category, ...). */
  task: string;
  /** URL of the split's task JSONL, relative to the server. */
  url: string;
  /** null: the whole split. */
  shard: DataShard | null;
}

/** Where a client finds the base model and how its adapters are laid out. */
export interface ModelManifest {
  modelId: string;
  /** URL of the model directory (config.json, model.safetensors, tokenizer.json). */
  baseUrl: string;
  numLayers: number;
  lora: LoraConfig;
}

export type HelloAck =
  | {
      ok: true;
      clientId: string;
      tier: Tier;
      keptLayers: number[];
      /** Why the server chose this tier when it differs from the preferred one. */
      tierReason: string;
      manifest: ModelManifest;
      train: TrainConfig;
      data: DataAssignment;
      /** Secret for a later hello's `resume`; keep it with the client id (per tab, not shared). */
      resumeToken: string;
      /** The round whose assignment this connection took over (the server sends its round:start again); null: none. */
      resumedRound: number | null;
    }
  | { ok: false; reason: string };

export interface ProgressReport {
  round: number;
  step: number;
  loss: number;
}

export interface UpdateMeta {
  round: number;
  numSamples: number;
  metrics: Record<string, number>;
}

/**
 * 'malformed': the metadata or the bytes could not be parsed at all. A rejected update changes
 * nothing; the client may send a corrected one until the round's deadline, after which a client
 * with only rejected updates counts as a failure of the round.
 */
export type UpdateAck = { accepted: true } | { accepted: false; code: RejectionCode; reason: string };

export interface RoundStartInfo {
  round: number;
  train: TrainConfig;
  /** Seed of the client's local data shuffling. */
  seed: number;
  keptLayers: number[];
  /** Epoch milliseconds after which the update is no longer accepted. */
  deadline: number;
}

export interface RoundCancelInfo {
  round: number;
  reason: string;
}

export interface RoundEndInfo {
  round: number;
  /** Whether this client's update went into the new global. */
  included: boolean;
  /** Whether the round made a new global (false: quorum not met). */
  aggregated: boolean;
}

/** The round settings a researcher controls. */
export interface RoundSettings {
  sampling: SamplingOptions;
  train: TrainConfig;
  minResults: number;
  totalRounds: number;
  roundTimeoutMs: number;
}

export interface RoundSettingsPatch {
  sampling?: Partial<SamplingOptions>;
  train?: Partial<TrainConfig>;
  minResults?: number;
  totalRounds?: number;
  roundTimeoutMs?: number;
}

export type ControlCommand =
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'configure'; settings: RoundSettingsPatch };

export type ControlAck = { ok: true } | { ok: false; reason: string };

export type CoordinatorStatus = 'idle' | 'running' | 'paused' | 'finished';

/** A client's device, from its hello report. */
export interface DeviceSummary {
  /** GPU vendor, architecture and description in one line; null without WebGPU. */
  gpu: string | null;
  deviceMemoryGb: number | null;
  /** Why the device picked its preferred tier. */
  tierReason: string;
}

export interface ClientSummary {
  id: string;
  tier: Tier;
  keptLayers: number[];
  engine: 'webgpu' | 'cpu';
  device: DeviceSummary;
  /** Index of the assigned data shard; null: the whole split. */
  dataShard: number | null;
  /** 'disconnected': lost its connection mid-round and may still resume it until the grace ends. */
  activity: 'ready' | 'training' | 'busy' | 'disconnected';
  /** Last reported training loss, null before the first progress. */
  lastLoss: number | null;
}

/** A client that was assigned a completed round and did not deliver, and why. */
export interface RoundFailure {
  round: number;
  clientId: string;
  /** E.g. "missed the deadline", "sent only rejected updates (last: ...)". */
  reason: string;
}

/** One tier's aggregate of one completed round. */
export interface TierRoundMetrics {
  round: number;
  tier: Tier;
  clients: number;
  samples: number;
  /** Sample-weighted mean of each metric over the tier's clients. */
  metrics: Record<string, number>;
}

export interface DashboardState {
  status: CoordinatorStatus;
  /** Current round, 0 before the first. */
  round: number;
  strategy: string;
  settings: RoundSettings;
  clients: ClientSummary[];
  /** Metrics of every finished round that made a new global, oldest first. */
  rounds: RoundMetrics[];
  /** The failed clients of those rounds, by round. */
  failures: RoundFailure[];
  modelId: string;
  /** Kept original layers of each enabled tier. */
  tiers: Partial<Record<Tier, number[]>>;
  /** Per-tier metrics of every completed round, by round then tier. */
  tierMetrics: TierRoundMetrics[];
  /** Rejected updates since the server started, by reason code. */
  rejected: Partial<Record<RejectionCode, number>>;
  /** Rounds that made no new global and ran again. */
  retriedRounds: number;
}

export type DashboardActivity =
  | { type: 'client:join'; client: ClientSummary }
  | { type: 'client:leave'; clientId: string; reason: string }
  | { type: 'client:disconnected'; clientId: string; reason: string; round: number; resumeUntil: number }
  | { type: 'client:resumed'; clientId: string; round: number }
  | { type: 'progress'; clientId: string; progress: ProgressReport }
  | {
      type: 'update:rejected';
      clientId: string;
      round: number;
      code: RejectionCode | 'malformed';
      reason: string;
    }
  | { type: 'round:start'; round: number; clients: string[] }
  | { type: 'round:end'; round: number; metrics: RoundMetrics | null };

// Event maps. The server must check that an `ack` it receives is a function before calling it.

export interface ClientToServerEvents {
  hello: (report: HelloReport, ack: (reply: HelloAck) => void) => void;
  ready: () => void;
  progress: (progress: ProgressReport) => void;
  update: (meta: UpdateMeta, adapter: Bytes, ack: (reply: UpdateAck) => void) => void;
}

export interface ServerToClientEvents {
  'round:start': (info: RoundStartInfo, globalAdapter: Bytes) => void;
  'round:cancel': (info: RoundCancelInfo) => void;
  'round:end': (info: RoundEndInfo) => void;
}

export interface DashboardClientToServerEvents {
  control: (command: ControlCommand, ack: (reply: ControlAck) => void) => void;
}

export interface DashboardServerToClientEvents {
  state: (snapshot: DashboardState) => void;
  activity: (activity: DashboardActivity) => void;
}

/** Single-process coordinator: no events between servers. */
export type InterServerEvents = Record<string, never>;

/** socket.data of a volunteer connection, set once its hello is accepted. */
export interface SocketData {
  clientId?: string;
  tier?: Tier;
  keptLayers?: number[];
}

/** Every message of the protocol, one member per event, discriminated by `event`. */
export type ProtocolMessage =
  // volunteer -> server, once right after connecting: the device report (and a resume claim after a
  // reconnect); the ack assigns id, tier, layers, data shard and the resume token.
  | { event: 'hello'; report: HelloReport }
  // volunteer -> server, after its hello is accepted and after each round: it may be sampled.
  | { event: 'ready' }
  // volunteer -> server, every few local steps while it trains: round, step, loss.
  | { event: 'progress'; progress: ProgressReport }
  // volunteer -> server, once per round when local training ends: metadata and adapter bytes.
  | { event: 'update'; meta: UpdateMeta; adapter: Bytes }
  // server -> volunteer, when the client is sampled (and again after it resumed the round on a new
  // connection): training config and the global for its layers.
  | { event: 'round:start'; info: RoundStartInfo; globalAdapter: Bytes }
  // server -> volunteer, when a round it trains in is abandoned (paused, reconfigured, too few clients).
  | { event: 'round:cancel'; info: RoundCancelInfo }
  // server -> volunteer, to every client of a round when the round is aggregated or times out.
  | { event: 'round:end'; info: RoundEndInfo }
  // server -> dashboard, on connect and on every join, leave, ready, control and round start or end.
  | { event: 'state'; snapshot: DashboardState }
  // server -> dashboard, as things happen: joins, leaves, progress, rejections, round boundaries.
  | { event: 'activity'; activity: DashboardActivity }
  // dashboard -> server, when the researcher clicks start, pause, resume or saves new settings.
  | { event: 'control'; command: ControlCommand };
