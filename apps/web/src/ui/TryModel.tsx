// The "Try the model" panel of the volunteer page and the dashboard: a prompt in the instruction
// format, answered by the current global model of a tier (merged ONNX from the server) with
// onnxruntime-web in this browser, the answer streamed token by token, and which execution provider
// (webgpu or wasm) ran it. ONNX Runtime is loaded only when Generate is first pressed.
import { noRepeatNgram, TASK_INSTRUCTIONS } from '@prufed/model';
import { type FormEvent, useState } from 'react';
import type { fetchTokenizer } from '../volunteer';

type Tokenizer = Awaited<ReturnType<typeof fetchTokenizer>>;

/** The n-gram the panel's repeat blocking bans: define's, the task its default prompt asks. */
const BLOCKED_NGRAM = noRepeatNgram.define;

export interface TryModelProps {
  /** The tier whose latest global answers. */
  tier: string;
  /** Where the merged ONNX model is fetched from (with the request options, e.g. a token header). */
  modelUrl: string;
  requestInit?: RequestInit;
  tokenizer: () => Promise<Tokenizer>;
  /** Longest sequence, prompt included: the run's seqLen. */
  maxLength: number;
}

type Run =
  | { phase: 'idle' }
  | { phase: 'loading' }
  | {
      phase: 'generating' | 'done';
      provider: string;
      round: number;
      text: string;
      tokens: number;
      ms: number;
    }
  | { phase: 'failed'; message: string };

export function TryModel({ tier, modelUrl, requestInit, tokenizer, maxLength }: TryModelProps) {
  const [run, setRun] = useState<Run>({ phase: 'idle' });
  const busy = run.phase === 'loading' || run.phase === 'generating';

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const request = {
      instruction: String(form.get('instruction')),
      input: String(form.get('input')),
      maxNewTokens: Number(form.get('maxNewTokens')),
      maxLength,
      // small models fall into loops ("a person who is a person who is ...")
      noRepeatNgram: form.get('blockRepeats') === null ? 0 : BLOCKED_NGRAM,
    };
    setRun({ phase: 'loading' });
    try {
      const { loadOnnxModel, generate } = await import('../try-model');
      const [model, tok] = await Promise.all([loadOnnxModel(modelUrl, requestInit), tokenizer()]);
      const started = performance.now();
      const shown = { provider: model.provider, round: model.round };
      setRun({ phase: 'generating', ...shown, text: '', tokens: 0, ms: 0 });
      try {
        const result = await generate(model, tok, request, (text, tokens) =>
          setRun({ phase: 'generating', ...shown, text, tokens, ms: performance.now() - started }),
        );
        setRun({ phase: 'done', ...shown, ...result, ms: performance.now() - started });
      } finally {
        await model.session.release();
      }
    } catch (error) {
      setRun({ phase: 'failed', message: (error as Error).message });
    }
  };

  return (
    <section className="card" data-testid="try-model">
      <h2>Try the model</h2>
      <p>
        The latest global model of tier {tier} answers in this browser (ONNX Runtime Web; WebGPU when
        available, else WebAssembly).
      </p>
      <form onSubmit={submit} className="stats">
        <label>
          Instruction <input name="instruction" defaultValue={TASK_INSTRUCTIONS.define} size={40} />
        </label>
        <label>
          Input <input name="input" defaultValue="dog" size={16} />
        </label>
        <label>
          New tokens <input name="maxNewTokens" type="number" min={1} max={256} defaultValue={24} size={4} />
        </label>
        <label title={`Greedy decoding that never repeats ${BLOCKED_NGRAM} tokens in a row it already wrote`}>
          <input name="blockRepeats" type="checkbox" defaultChecked /> No repeated {BLOCKED_NGRAM}-grams
        </label>
        <button type="submit" disabled={busy}>
          Generate
        </button>
      </form>
      {run.phase === 'loading' && <p data-testid="try-status">Loading the model…</p>}
      {(run.phase === 'generating' || run.phase === 'done') && (
        <>
          <p
            data-testid="try-status"
            data-provider={run.provider}
            data-phase={run.phase}
            data-tokens={run.tokens}
          >
            Tier {tier}, global of round {run.round}, on {run.provider}: {run.tokens} tokens in{' '}
            {(run.ms / 1000).toFixed(1)} s{run.phase === 'generating' ? '…' : ''}
          </p>
          <pre data-testid="try-output" className="answer">
            {run.text}
          </pre>
        </>
      )}
      {run.phase === 'failed' && (
        <p role="alert" className="alert" data-testid="try-status">
          Could not run the model: {run.message}
        </p>
      )}
    </section>
  );
}
