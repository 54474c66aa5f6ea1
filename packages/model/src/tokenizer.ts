// Tokenizers: load a Hugging Face tokenizer.json (through @huggingface/tokenizers, which runs in
// browsers and Node) behind a small interface, and build byte-level BPE tokenizer.json files
// (GPT-2 / LLaMA-3 style) for the tiny test models and for a BPE trainer's learned merges.
import { Tokenizer } from '@huggingface/tokenizers';
import { FormatError, InputError } from './errors';

export interface PrufedTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Number of ids the tokenizer can produce: 1 + the largest id of its vocabulary. */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
}

// Names of the usual special tokens, used when no tokenizer_config.json says which is which.
const knownSpecialNames = {
  bos: ['<|bos|>', '<s>', '<|begin_of_text|>', '<|endoftext|>'],
  eos: ['<|eos|>', '</s>', '<|end_of_text|>', '<|endoftext|>'],
  pad: ['<|pad|>', '<pad>', '<|finetune_right_pad_id|>'],
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** tokenizer_config.json writes a special token as a string or as {content: string}. */
function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/**
 * Load a parsed tokenizer.json (and optionally its tokenizer_config.json). Decoding never applies
 * the "clean up tokenization spaces" heuristics unless the config asks for them, so that
 * decode(encode(text)) gives back the text.
 */
export function loadTokenizer(tokenizerJson: unknown, tokenizerConfig?: unknown): PrufedTokenizer {
  if (
    !isRecord(tokenizerJson) ||
    !isRecord(tokenizerJson.model) ||
    !Array.isArray(tokenizerJson.added_tokens)
  ) {
    throw new FormatError(
      'not a tokenizer.json: expected an object with "model" and "added_tokens"; pass the parsed tokenizer.json ' +
        'of a Hugging Face model (not tokenizer_config.json or vocab.json)',
    );
  }
  if (tokenizerConfig !== undefined && !isRecord(tokenizerConfig)) {
    throw new FormatError('tokenizer_config.json must be a JSON object; pass its parsed contents or omit it');
  }
  const config = { clean_up_tokenization_spaces: false, ...tokenizerConfig };
  // The library requires these keys to be present; a tokenizer.json may omit the null ones.
  const json = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...tokenizerJson,
  };
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new FormatError(
      `tokenizer.json could not be loaded: ${(error as Error).message}; check that it is a Hugging Face tokenizer.json`,
    );
  }

  const vocab = tokenizer.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const specials = new Set(
    [...tokenizer.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.content),
  );
  const findId = (configKey: string, names: string[]): number | undefined => {
    const named = specialTokenContent(config[configKey as keyof typeof config]);
    if (named !== undefined) return tokenizer.token_to_id(named);
    const found = names.find((name) => specials.has(name));
    return found === undefined ? undefined : tokenizer.token_to_id(found);
  };

  return {
    encode(text, options = {}) {
      return tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    },
    decode(ids, options = {}) {
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw new InputError(`token id ${id} is not in the tokenizer's vocabulary [0, ${vocabSize})`);
        }
      }
      if (ids.length === 0) return '';
      return tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
    },
    vocabSize,
    bosId: findId('bos_token', knownSpecialNames.bos),
    eosId: findId('eos_token', knownSpecialNames.eos),
    padId: findId('pad_token', knownSpecialNames.pad),
  };
}

/**
 * GPT-2's reversible map from a byte to a printable character: printable Latin-1 bytes map to
 * themselves, the others to U+0100 upwards (space becomes 'Ġ'). Byte-level BPE vocabularies and
 * merges are written in these characters.
 */
export const byteLevelChars: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  const chars: string[] = [];
  let next = 0x100;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : next++));
  return chars;
})();

export interface ByteLevelBpeOptions {
  /** Learned merges in priority order, written in byteLevelChars; each adds the token a+b. */
  merges?: [string, string][];
  /** Special tokens, added after the byte and merge tokens (e.g. <|bos|>, <|eos|>, <|pad|>). */
  specialTokens?: string[];
  /** Prepended by encode({addSpecialTokens: true}) when set; must be one of specialTokens. */
  bosToken?: string;
  /** Pad the vocabulary with special <|reserved_N|> tokens up to this size (as LLaMA-3 does). */
  vocabSize?: number;
}

/**
 * A byte-level BPE tokenizer.json: ids 0..255 are the bytes (id b is byte b), then one token per
 * merge, then the special tokens, then reserved tokens up to vocabSize. Every text encodes, as
 * any byte has a token.
 */
export function byteLevelBpeTokenizerJson(options: ByteLevelBpeOptions = {}): Record<string, unknown> {
  const merges = options.merges ?? [];
  const specialTokens = [...(options.specialTokens ?? [])];
  const vocab: Record<string, number> = {};
  let size = 0;
  const add = (token: string) => {
    if (!Object.hasOwn(vocab, token)) vocab[token] = size++;
  };
  byteLevelChars.forEach(add);
  for (const [a, b] of merges) {
    if (!Object.hasOwn(vocab, a) || !Object.hasOwn(vocab, b)) {
      throw new InputError(
        `merge ["${a}", "${b}"] uses a token that neither a byte nor an earlier merge makes; ` +
          'write merges in byteLevelChars and in the order they were learned',
      );
    }
    add(a + b);
  }
  if (options.bosToken !== undefined && !specialTokens.includes(options.bosToken)) {
    throw new InputError(
      `bosToken "${options.bosToken}" must be one of specialTokens [${specialTokens.join(', ')}]`,
    );
  }
  const firstSpecial = size;
  if (options.vocabSize !== undefined) {
    if (options.vocabSize < size + specialTokens.length) {
      throw new InputError(
        `vocabSize ${options.vocabSize} is smaller than the ${size + specialTokens.length} byte, merge and special ` +
          'tokens; raise it or leave it out',
      );
    }
    for (let n = 0; size + specialTokens.length < options.vocabSize; n++)
      specialTokens.push(`<|reserved_${n}|>`);
  }
  for (const token of specialTokens) {
    if (Object.hasOwn(vocab, token))
      throw new InputError(`special token "${token}" is given twice or is a byte`);
    add(token);
  }
  const addedTokens = specialTokens.map((content, i) => ({
    id: firstSpecial + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const bos = options.bosToken;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor:
      bos === undefined
        ? byteLevel
        : {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: bos, type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: bos, type_id: 1 } },
              { Sequence: { id: 'B', type_id: 1 } },
            ],
            special_tokens: { [bos]: { id: bos, ids: [vocab[bos]], tokens: [bos] } },
          },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
