// Base model weights of a (possibly pruned) LLaMA variant, keyed by Hugging Face tensor names.
import type { LlamaConfig } from './config';
import type { Tensor } from './tensor';

export interface LlamaWeights {
  config: LlamaConfig;
  /** Original layer indices whose tensors are present, ascending. */
  layers: number[];
  /**
   * HF names: model.embed_tokens.weight (V, C), model.norm.weight (C), lm_head.weight (V, C)
   * (absent when tie_word_embeddings), model.layers.{i}.input_layernorm.weight (C),
   * model.layers.{i}.self_attn.{q,k,v,o}_proj.weight, model.layers.{i}.post_attention_layernorm.weight,
   * model.layers.{i}.mlp.{gate,up,down}_proj.weight. Linear weights are (out, in) as in PyTorch.
   */
  tensors: Map<string, Tensor>;
}
