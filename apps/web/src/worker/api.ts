// The typed API of the trainer Web Worker, shared by the worker (which implements it) and the page
// (which reaches it through comlink). Callbacks cross as Comlink.proxy; batches and adapter bytes
// cross as transferred buffers, never copies.
import type {
  AdamWConfig,
  Batch,
  LlamaConfig,
  LoraConfig,
  LossResult,
  TrainStepResult,
  WarmUpShape,
} from '@prufed/model';

/** The training engines a worker can build; engines.ts says which ones this build has. */
export type EngineKind = 'cpu' | 'webgpu';

/** What navigator.gpu reports, or null without WebGPU. */
export interface GpuCapabilities {
  vendor: string;
  architecture: string;
  description: string;
  /** True for software adapters such as SwiftShader (where the browser exposes it). */
  isFallbackAdapter: boolean;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
}

export interface Capabilities {
  gpu: GpuCapabilities | null;
  /** Why gpu is null: no navigator.gpu, no adapter, or the error requestAdapter threw. */
  gpuUnavailableReason: string | null;
  /** navigator.deviceMemory in GB (a coarse, capped value); null where the browser hides it. */
  deviceMemoryGb: number | null;
  /** Engines this worker can build, best first. */
  engines: EngineKind[];
}

export interface LoadRequest {
  /** URL of the model directory (config.json, model.safetensors), ending in '/'. */
  baseUrl: string;
  /** Original indices of the decoder layers to keep, ascending. */
  keptLayers: number[];
  engine: EngineKind;
}

/** Download progress in bytes of model.safetensors: the header plus the variant's tensors. */
export interface DownloadProgress {
  /** Bytes read so far, from the network or the IndexedDB cache. */
  loadedBytes: number;
  /** Bytes the variant needs in all (known once the header is read; 0 before). */
  totalBytes: number;
  /** Of loadedBytes, those that came over the network. */
  fetchedBytes: number;
}

export interface LoadedModel {
  config: LlamaConfig;
  keptLayers: number[];
  engine: EngineKind;
  /** Size of the whole model.safetensors, to show how much pruning saved. */
  fileBytes: number;
  /** Final progress: every byte loaded; fetchedBytes is 0 when the cache held everything. */
  progress: DownloadProgress;
}

export interface TrainerApi {
  /** WebGPU adapter, limits and features; device memory; available engines. */
  probe(): Promise<Capabilities>;
  /** Downloads (or reads from the cache) the kept layers' weights and loads them into a new engine. */
  loadModel(request: LoadRequest, onProgress?: (progress: DownloadProgress) => void): Promise<LoadedModel>;
  /**
   * One training step on a throwaway adapter and a batch of the rounds' shape, so that the engine
   * compiles its kernels before the device says ready (warm-up.ts); milliseconds it took. The next
   * setAdapter replaces that adapter.
   */
  warmUp(shape: WarmUpShape, lora: LoraConfig): Promise<number>;
  /** Sets the adapter from PEFT safetensors bytes (what round:start carries) and resets its optimizer. */
  setAdapter(peftSafetensors: Uint8Array, lora: LoraConfig): Promise<void>;
  /** One forward + backward + AdamW step on the adapter. */
  trainStep(batch: Batch, optimizer: AdamWConfig): Promise<TrainStepResult>;
  evaluateLoss(batch: Batch): Promise<LossResult>;
  /** The current adapter as PEFT safetensors bytes (what an update carries). */
  readAdapter(): Promise<Uint8Array>;
  /** Deletes every cached weight of this origin. */
  clearCache(): Promise<void>;
}
