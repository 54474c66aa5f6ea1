// WebGPU in Node (tests, CLIs, benchmarks) through the npm package `webgpu` (Dawn). Node-only:
// exported from the separate entry src/node.ts, never from the isomorphic index.
//
// Dawn's Vulkan backend dlopens "libvulkan.so.1" when it first looks for adapters. On machines
// without a system Vulkan loader (libvulkan1) but with Debian's chromium package, the loader and
// the SwiftShader software driver sit in /usr/lib/chromium, outside the library search path.
// LD_LIBRARY_PATH cannot help once the process runs (glibc reads it at start-up), so the loader is
// preloaded here by absolute path with RTLD_NODELETE: glibc then satisfies Dawn's dlopen by soname.
// This needs no environment set before start-up, so it works inside Vitest forks and plain tsx.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { type AcquireOptions, acquireDevice, type GpuContext, GpuError } from './gpu-device';

/** Where Debian's chromium package ships the Vulkan loader and SwiftShader. */
const chromiumDir = '/usr/lib/chromium';
const vulkanLoaderName = 'libvulkan.so.1';
const systemLibDirs = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib64',
  '/lib',
];
/** glibc's RTLD_NODELETE; Node's os.constants.dlopen does not list it. */
const rtldNodelete = 0x1000;

export interface NodeGpu {
  /** navigator.gpu's equivalent; pass it to acquireDevice. */
  gpu: GPU;
  /** How the Vulkan loader and driver were found, for logs. */
  setup: string;
}

/**
 * Dawn toggles for Node. SwiftShader unrolls the zero-initialisation of workgroup memory, which
 * makes compiling a tiled matmul take 2 s instead of 0.08 s; every kernel here writes its
 * workgroup memory before reading it (browsers keep the zero-initialisation, with the same results).
 */
export const defaultDawnOptions: readonly string[] = ['enable-dawn-features=disable_workgroup_init'];

/** The created GPU objects: Dawn segfaults if the object returned by create() is collected. */
const keptAlive: GPU[] = [];

function hasSystemVulkanLoader(): boolean {
  const searched = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean),
    ...systemLibDirs,
  ];
  return searched.some((dir) => existsSync(join(dir, vulkanLoaderName)));
}

/** Preloads chromium's Vulkan loader and points it at SwiftShader; returns what it did. */
function useChromiumVulkan(): string {
  const loader = join(chromiumDir, vulkanLoaderName);
  const icd = join(chromiumDir, 'vk_swiftshader_icd.json');
  if (!existsSync(loader)) return 'no system Vulkan loader and no Debian chromium package';
  const flags = constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL | rtldNodelete;
  try {
    process.dlopen({ exports: {} }, loader, flags);
  } catch {
    // Expected: the loader is not a Node addon ("did not self-register"), yet it stays loaded.
  }
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(icd)) process.env.VK_ICD_FILENAMES = icd;
  return `Vulkan loader preloaded from ${loader}, VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? '(unset)'}`;
}

/**
 * Creates Node's GPU object, or returns the reason why WebGPU is unavailable here (package not
 * installed, no Vulkan loader). A GPU object may still find no adapter: acquireDevice says so.
 */
export async function createNodeGpu(
  dawnOptions: readonly string[] = defaultDawnOptions,
): Promise<NodeGpu | { unavailable: string }> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (error) {
    return {
      unavailable: `the npm package "webgpu" could not be loaded (${String(error)}); run npm install`,
    };
  }
  let setup = 'system Vulkan loader';
  if (process.platform === 'linux' && !hasSystemVulkanLoader()) {
    setup = useChromiumVulkan();
    if (setup.startsWith('no ')) {
      return {
        unavailable: `${setup}: install libvulkan1 and a Vulkan driver, or Debian's chromium package`,
      };
    }
  }
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([...dawnOptions]);
  keptAlive.push(gpu);
  return { gpu, setup };
}

/** Points the Vulkan loader at chromium's SwiftShader unless told otherwise; true if it did. */
function useSwiftShaderIcd(): boolean {
  const icd = join(chromiumDir, 'vk_swiftshader_icd.json');
  if (process.env.VK_ICD_FILENAMES !== undefined || !existsSync(icd)) return false;
  process.env.VK_ICD_FILENAMES = icd;
  return true;
}

/**
 * A device from Node's WebGPU, or why there is none here (for tests to skip with that reason).
 * Where the system Vulkan loader finds no driver, it tries again with chromium's SwiftShader.
 */
export async function acquireNodeDevice(
  options: AcquireOptions = {},
  dawnOptions: readonly string[] = defaultDawnOptions,
): Promise<GpuContext | { unavailable: string }> {
  const attempt = async (): Promise<GpuContext | { unavailable: string }> => {
    const created = await createNodeGpu(dawnOptions);
    if ('unavailable' in created) return created;
    try {
      return await acquireDevice(created.gpu, options);
    } catch (error) {
      if (!(error instanceof GpuError)) throw error;
      return { unavailable: `${error.message} (${created.setup})` };
    }
  };
  const first = await attempt();
  return 'unavailable' in first && useSwiftShaderIcd() ? attempt() : first;
}
