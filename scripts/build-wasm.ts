// Compiles the CPU engine's WebAssembly kernels (packages/model/src/cpu/wasm/*.wat) with wabt and
// writes each as a TypeScript module holding the binary in base64 (<name>-wasm.ts beside the .wat),
// so the engine instantiates it synchronously in Node, workers and browsers without a loader.
// Usage: npm run build:wasm [-- --check]   (--check: exit 1 when a shipped module is stale)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { wasmModuleSource, watToWasm } from '../packages/model/src/cpu/wasm/compile';

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
const dir = resolve(import.meta.dirname, '../packages/model/src/cpu/wasm');
let stale = 0;
for (const name of readdirSync(dir).filter((f) => f.endsWith('.wat'))) {
  const base = name.slice(0, -'.wat'.length);
  const target = join(dir, `${base}-wasm.ts`);
  const source = wasmModuleSource(name, await watToWasm(name, readFileSync(join(dir, name), 'utf8')));
  let shipped = '';
  try {
    shipped = readFileSync(target, 'utf8');
  } catch {}
  if (shipped === source) continue;
  if (values.check) {
    console.error(`${target} is stale: run npm run build:wasm`);
    stale++;
  } else {
    writeFileSync(target, source);
    console.log(`wrote ${target}`);
  }
}
process.exit(stale > 0 ? 1 : 0);
