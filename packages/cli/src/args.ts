// Parsers for command-line option values; each rejects bad values with a message commander prints.
import { InvalidArgumentError } from 'commander';

/** A non-negative integer, e.g. a seed or a layer count. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`"${value}" is not a non-negative integer.`);
  }
  return n;
}

/** A positive finite number, e.g. a LoRA alpha. */
export function parsePositive(value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || x <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a positive number.`);
  }
  return x;
}

/** Comma-separated non-negative integers, e.g. "0,1,2" for kept layers. */
export function parseCountList(value: string): number[] {
  return value.split(',').map((item) => {
    try {
      return parseCount(item);
    } catch {
      throw new InvalidArgumentError(
        `"${value}" is not a comma-separated list of non-negative integers, e.g. 0,1,2.`,
      );
    }
  });
}

/** Comma-separated names, each one of `allowed`. */
export function parseNameList<T extends string>(value: string, allowed: readonly T[]): T[] {
  return value.split(',').map((item) => {
    const name = allowed.find((a) => a === item.trim());
    if (!name) throw new InvalidArgumentError(`"${item}" is not one of ${allowed.join(', ')}.`);
    return name;
  });
}
