// The trainer Web Worker: downloads and caches a pruned variant's weights, holds the training
// engine, and trains the adapter, all off the page's main thread. The page reaches it through
// comlink (trainer-client.ts); the API is TrainerApi in api.ts.
import {
  adapterFromPeft,
  adapterToPeft,
  httpFetchRange,
  InputError,
  type LlamaConfig,
  parseLlamaConfig,
  type TrainingEngine,
  warmUpTraining,
} from '@prufed/model';
import * as Comlink from 'comlink';
import type { LoadedModel, TrainerApi } from './api';
import { builtEngines, createEngine } from './engines';
import { probeCapabilities } from './probe';
import { type ByteStore, openIdbByteStore } from './weight-cache';
import { cachingFetchRange, downloadVariantWeights } from './weights-download';

let engine: TrainingEngine | null = null;
/** The variant in `engine`. */
let variant: { config: LlamaConfig; keptLayers: number[] } | null = null;
let store: Promise<ByteStore> | null = null;

function weightStore(): Promise<ByteStore> {
  store ??= openIdbByteStore();
  return store;
}

function loadedEngine(): TrainingEngine {
  if (engine === null) throw new InputError('no model is loaded in the trainer; call loadModel first');
  return engine;
}

async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (!response.ok) {
    throw new InputError(
      `${init?.method ?? 'GET'} ${url} failed with HTTP ${response.status}; check the model URL and that ` +
        'the server holds config.json and a single model.safetensors there',
    );
  }
  return response;
}

/** Size and version (ETag, else Last-Modified) of the weights file, from a HEAD request. */
async function fileVersion(url: string): Promise<{ fileBytes: number; version: string }> {
  const { headers } = await fetchOk(url, { method: 'HEAD' });
  const fileBytes = Number(headers.get('Content-Length') ?? Number.NaN);
  const version = headers.get('ETag') ?? headers.get('Last-Modified');
  if (version === null) {
    throw new InputError(
      `${url} came without an ETag or Last-Modified header, so cached weights could not be checked ` +
        'against it; serve model files with the PruFed server (or any server that sends ETag)',
    );
  }
  return { fileBytes, version: `${url} ${version}` };
}

const trainer: TrainerApi = {
  probe: () => probeCapabilities(builtEngines),

  async loadModel({ baseUrl, keptLayers, engine: kind }, onProgress) {
    const base = new URL(baseUrl, self.location.href);
    const config = parseLlamaConfig(await (await fetchOk(new URL('config.json', base).href)).json());
    const weightsUrl = new URL('model.safetensors', base).href;
    const { fileBytes, version } = await fileVersion(weightsUrl);
    let fetched = 0;
    const { weights, progress } = await downloadVariantWeights({
      config,
      keptLayers,
      fetchRange: cachingFetchRange(httpFetchRange(weightsUrl), await weightStore(), version, (bytes) => {
        fetched += bytes;
      }),
      fetchedBytes: () => fetched,
      onProgress,
    });
    engine?.dispose();
    engine = null;
    variant = null;
    const next = await createEngine(kind);
    await next.loadVariant(weights, { keptLayers });
    engine = next;
    variant = { config, keptLayers: [...keptLayers] };
    const loaded: LoadedModel = { config, keptLayers: [...keptLayers], engine: kind, fileBytes, progress };
    return loaded;
  },

  async warmUp(shape, lora) {
    const started = performance.now();
    const loaded = loadedEngine();
    await warmUpTraining(loaded, variant!.config, variant!.keptLayers, shape, lora);
    return performance.now() - started;
  },

  async setAdapter(peftSafetensors, lora) {
    const peftConfig = {
      peft_type: 'LORA',
      r: lora.r,
      lora_alpha: lora.alpha,
      target_modules: lora.targetModules,
    };
    await loadedEngine().setAdapter(adapterFromPeft(peftSafetensors, peftConfig));
  },

  trainStep: (batch, optimizer) => loadedEngine().trainStep(batch, optimizer),

  evaluateLoss: (batch) => loadedEngine().evaluateLoss(batch),

  async readAdapter() {
    const { safetensors } = adapterToPeft(await loadedEngine().readAdapter());
    return Comlink.transfer(safetensors, [safetensors.buffer]);
  },

  async clearCache() {
    await (await weightStore()).clear();
  },
};

Comlink.expose(trainer);
