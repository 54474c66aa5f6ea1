import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wasmModuleSource, watToWasm } from './compile';

const dir = import.meta.dirname;
const sources = readdirSync(dir).filter((f) => f.endsWith('.wat'));

describe('shipped WebAssembly kernels', () => {
  it('exist for the matmul and attention sources', () => {
    expect(sources.sort()).toEqual(['attention.wat', 'matmul.wat']);
  });

  for (const name of sources) {
    it(`${name} compiles to the shipped binary (npm run build:wasm)`, async () => {
      const shipped = readFileSync(join(dir, name.replace(/\.wat$/, '-wasm.ts')), 'utf8');
      const wat = readFileSync(join(dir, name), 'utf8');
      expect(shipped).toBe(wasmModuleSource(name, await watToWasm(name, wat)));
    });
  }
});
