// Error classes for bad input. Every message says what was wrong and how to fix it.

/** A file or payload is not in the expected format (safetensors, tokenizer.json, batch JSON...). */
export class FormatError extends Error {
  override name = 'FormatError';
}

/** A model or LoRA configuration holds a value this project does not support. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Arguments or data do not fit the model they are used with (shapes, token ids, layers). */
export class InputError extends Error {
  override name = 'InputError';
}
