// The descriptor of one compute kernel (tfjs-backend-webgpu's "program"): which .wgsl file and
// entry point, its bindings, its uniform struct, its workgroup size (override constants WG_*) and
// how many workgroups a call dispatches. Compile-time constants are WGSL `override`s: they, and only
// they, vary the pipeline, so the shader text stays a plain .wgsl file and sizes go in uniforms.
//
// WGSL files are read at run time from `new URL('./kernels/x.wgsl', import.meta.url)`: Vite turns
// that into an asset URL in builds and workers, Vitest and tsx keep the file: URL. No `?raw`
// import, because plain Node (tsx CLIs) cannot load one without a loader hook.
import { InputError } from '@prufed/model';

/** @group(0) @binding(0) is the uniform struct `u`; the i-th buffer binding is @binding(i + 1). */
export type BindingKind = 'read-only-storage' | 'storage';

export type UniformType = 'u32' | 'i32' | 'f32';

export interface Program {
  /** Kernel name, used in labels, dumps and the cache key. */
  name: string;
  /** The .wgsl file (resolved against the descriptor's module with import.meta.url). */
  source: URL;
  entryPoint: string;
  bindings: readonly { name: string; kind: BindingKind }[];
  /** Fields of the WGSL `struct Uniforms`, in order; all 4-byte scalars. */
  uniforms: readonly { name: string; type: UniformType }[];
  /** Values of the shader's `override` declarations (compile-time constants). */
  constants: Readonly<Record<string, number | boolean>>;
  /** Workgroups to dispatch for the given uniform values. */
  dispatch(uniforms: Readonly<Record<string, number>>): readonly [number, number, number];
}

/** Identifies the compiled pipeline: shader file, entry point and compile-time constants. */
export function programKey(program: Program): string {
  const constants = Object.keys(program.constants)
    .sort()
    .map((name) => `${name}=${program.constants[name]}`)
    .join(',');
  return `${program.name}:${program.source.pathname.split('/').pop()}:${program.entryPoint}:${constants}`;
}

/**
 * The two variants of a kernel with an ACCUMULATE override, built once: `make(true)` adds into its
 * outputs, `make(false)` writes them (which spares zeroing them first).
 */
export function byAccumulate<T>(make: (accumulate: boolean) => T): (accumulate: boolean) => T {
  const adds = make(true);
  const writes = make(false);
  return (accumulate) => (accumulate ? adds : writes);
}

/** Bytes of the uniform struct, rounded up to WGSL's 16-byte struct alignment for uniforms. */
export function uniformByteSize(program: Program): number {
  return Math.max(16, Math.ceil((program.uniforms.length * 4) / 16) * 16);
}

/** Writes the uniform values in the struct's field order; every field must be given. */
export function packUniforms(
  program: Program,
  values: Readonly<Record<string, number>>,
  into: DataView,
): void {
  program.uniforms.forEach(({ name, type }, i) => {
    const value = values[name];
    if (value === undefined)
      throw new InputError(
        `kernel ${program.name}: uniform "${name}" was not given a value; pass every field of its Uniforms struct`,
      );
    if (type === 'f32') into.setFloat32(i * 4, value, true);
    else if (type === 'i32') into.setInt32(i * 4, value, true);
    else into.setUint32(i * 4, value, true);
  });
}

/**
 * Checks that each array or buffer holds at least the floats the shapes need; `have` counts floats.
 * call describes the call for the message, e.g. "matmul (M=2, N=3, K=4)".
 */
export function assertCapacity(
  call: string,
  sizes: Readonly<Record<string, { have: number; need: number }>>,
): void {
  for (const [name, { have, need }] of Object.entries(sizes)) {
    if (!Number.isInteger(need) || need < 1) throw new InputError(`${call}: sizes must be positive integers`);
    if (!(have >= need)) {
      throw new InputError(`${call}: ${name} holds ${have} floats but needs ${need}; check the shapes`);
    }
  }
}

const sources = new Map<string, Promise<string>>();

/** Name kept in a variable so that bundlers do not try to resolve a Node module in browser builds. */
const nodeFsPromises = 'node:fs/promises';

/**
 * The text of a data: URL. Vite inlines small assets as data: URLs, and fetch() of one is blocked
 * where the page's Content-Security-Policy connect-src does not list data: (PruFed's server's).
 */
function decodeDataUrl(url: URL): string {
  const comma = url.href.indexOf(',');
  const meta = url.href.slice('data:'.length, comma);
  const payload = decodeURIComponent(url.href.slice(comma + 1));
  if (!meta.endsWith(';base64')) return payload;
  return new TextDecoder().decode(Uint8Array.from(atob(payload), (char) => char.charCodeAt(0)));
}

async function readSource(url: URL): Promise<string> {
  if (url.protocol === 'data:') return decodeDataUrl(url);
  if (url.protocol === 'file:') {
    const fs: typeof import('node:fs/promises') = await import(/* @vite-ignore */ nodeFsPromises);
    return fs.readFile(url, 'utf8');
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch the WGSL file ${url.href}: HTTP ${response.status}`);
  return response.text();
}

/** The WGSL text of a kernel file, read once per page or process. */
export function loadWgsl(url: URL): Promise<string> {
  let source = sources.get(url.href);
  if (source === undefined) {
    source = readSource(url);
    sources.set(url.href, source);
    source.catch(() => sources.delete(url.href));
  }
  return source;
}
