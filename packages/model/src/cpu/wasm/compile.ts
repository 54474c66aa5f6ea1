// Build-time helpers (Node, dev dependency wabt): WAT text to a wasm binary, and the TypeScript
// module that ships the binary. Used by scripts/build-wasm.ts and the staleness test; the engine
// itself only imports the generated <name>-wasm.ts.
import wabtInit from 'wabt';

/** Compiles WebAssembly text (with SIMD) to a validated binary. */
export async function watToWasm(name: string, text: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(name, text, { simd: true });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** The generated module: the binary as base64, wrapped at 100 columns. */
export function wasmModuleSource(watName: string, binary: Uint8Array): string {
  const base64 = Buffer.from(binary).toString('base64');
  const lines = base64.match(/.{1,96}/g) ?? [];
  return [
    `// Generated from ${watName} by \`npm run build:wasm\` (scripts/build-wasm.ts); do not edit.`,
    `export const wasmBase64 =`,
    ...lines.map((line, i) => `  '${line}'${i === lines.length - 1 ? ';' : ' +'}`),
    '',
  ].join('\n');
}
