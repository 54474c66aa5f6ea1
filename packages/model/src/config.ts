// LLaMA model configuration read from a Hugging Face config.json.
// Dimension letters used across the project: B batch, T tokens, C hidden, NH heads,
// NKV kv-heads, HS head size, F ffn, V vocab, R LoRA rank, L layers.

export interface LlamaConfig {
  hiddenSize: number; // C
  intermediateSize: number; // F
  numHiddenLayers: number; // L
  numAttentionHeads: number; // NH
  numKeyValueHeads: number; // NKV (divides NH)
  headDim: number; // HS = C / NH unless config.json says head_dim
  rmsNormEps: number;
  ropeTheta: number;
  vocabSize: number; // V
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
}
