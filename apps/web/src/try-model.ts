// "Try the model": the current global model of a tier, merged into ONNX by the server
// (/models/latest/<tier>.onnx, public; or a round's via the token-protected API), answers a prompt in
// the instruction format with onnxruntime-web, tokens streamed as they come. WebGPU execution
// provider where the browser has one, else wasm (threaded when the page is cross-origin isolated,
// which the server's COOP/COEP headers make it). ORT's .wasm and its .mjs glue are emitted by Vite
// (?url) and served by the app, so nothing comes from a CDN. Loaded lazily: the volunteer page and
// the dashboard pull ONNX Runtime in only when someone opens the panel.
import { formatPrompt, type InstructionTokenizer, type PrufedTokenizer } from '@prufed/model';
import { createWebSession, greedyDecodeBatch, type OrtSession, onnxLogits } from '@prufed/onnx';
import * as ort from 'onnxruntime-web';
import ortMjsUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';

export type ExecutionProvider = 'webgpu' | 'wasm';

export interface LoadedOnnxModel {
  session: OrtSession;
  provider: ExecutionProvider;
  /** The round whose global this is (the server's X-PruFed-Round). */
  round: number;
  bytes: number;
}

ort.env.wasm.wasmPaths = { wasm: ortWasmUrl, mjs: ortMjsUrl };
// Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
ort.env.wasm.numThreads = globalThis.crossOriginIsolated
  ? Math.min(4, navigator.hardwareConcurrency || 1)
  : 1;

// For the browser test e2e/onnx-parity.spec.ts: this page's ONNX Runtime, configured as above (a global, as
// Rollup drops the exports that the app's dynamic import does not use).
Object.assign(globalThis, { prufedOnnx: { createWebSession, onnxLogits, ort } });

/** Fetches a merged ONNX model and opens it on WebGPU when possible, else on wasm. */
export async function loadOnnxModel(url: string, init?: RequestInit): Promise<LoadedOnnxModel> {
  const response = await fetch(url, init);
  if (!response.ok) {
    const reason = await response.text();
    throw new Error(`GET ${url}: HTTP ${response.status} ${reason.slice(0, 200)}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const round = Number(response.headers.get('X-PruFed-Round') ?? Number.NaN);
  const providers: ExecutionProvider[] = 'gpu' in navigator ? ['webgpu', 'wasm'] : ['wasm'];
  const failures: string[] = [];
  for (const provider of providers) {
    try {
      const session = await createWebSession(bytes, { executionProviders: [provider] });
      return { session, provider, round, bytes: bytes.byteLength };
    } catch (error) {
      failures.push(`${provider}: ${(error as Error).message}`);
    }
  }
  throw new Error(`ONNX Runtime could not open the model (${failures.join('; ')})`);
}

/**
 * Greedy answer of the model to `instruction` (and optional `input`) in the instruction format,
 * never repeating an n-gram of noRepeatNgram tokens when that is above 0 (as `define` is scored);
 * onText gets the answer so far after every new token. Returns the answer and its token count.
 */
export async function generate(
  model: LoadedOnnxModel,
  tokenizer: InstructionTokenizer & Pick<PrufedTokenizer, 'decode'>,
  request: {
    instruction: string;
    input: string;
    maxNewTokens: number;
    maxLength: number;
    noRepeatNgram: number;
  },
  onText: (text: string, tokens: number) => void,
): Promise<{ text: string; tokens: number }> {
  const bos = tokenizer.bosId === undefined ? [] : [tokenizer.bosId];
  const prompt = [...bos, ...tokenizer.encode(formatPrompt(request.instruction, request.input))];
  const answer: number[] = [];
  // The format puts a space before the response (formatResponse); the answer shown starts after it.
  const decode = () => tokenizer.decode(answer, { skipSpecialTokens: true }).trimStart();
  await greedyDecodeBatch((ids, B, T) => onnxLogits(ort, model.session, ids, B, T), [prompt], {
    maxNewTokens: request.maxNewTokens,
    eosId: tokenizer.eosId,
    padId: tokenizer.padId,
    maxLength: request.maxLength,
    noRepeatNgram: request.noRepeatNgram,
    onToken: (_, token) => {
      answer.push(token);
      onText(decode(), answer.length);
    },
  });
  return { text: decode(), tokens: answer.length };
}
