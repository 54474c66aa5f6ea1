// The CPU engine's flat parameter buffer: consecutive tensors (in llamaTensorSpecs order) and the
// table of their offsets.
import type { TensorSpec } from '../hf-names';
import { numel } from '../tensor';

export interface ParamEntry extends TensorSpec {
  offset: number;
  size: number;
}

/** Offsets of consecutive tensors in one flat buffer; returns the table and the total length. */
export function paramTable(specs: readonly TensorSpec[]): { entries: ParamEntry[]; total: number } {
  let offset = 0;
  const entries = specs.map((spec) => {
    const size = numel(spec.shape);
    const entry = { ...spec, offset, size };
    offset += size;
    return entry;
  });
  return { entries, total: offset };
}
