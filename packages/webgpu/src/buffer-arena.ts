// Named GPU buffers reused across training steps: asking again for a name with the same size and
// usage returns the same buffer, so a steady-state step allocates nothing. Uniform buffers come
// from a ring that restarts at every submit. The counters let tests assert that no step allocates.

/** Storage buffers are written by uploads and kernels and read back by copies. */
export const storageUsage = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST
const uniformUsage = 0x40 | 0x8; // UNIFORM | COPY_DST
const readbackUsage = 0x1 | 0x8; // MAP_READ | COPY_DST
/** Room for any kernel's uniform struct. */
const uniformBytes = 256;

export class BufferArena {
  /** GPU buffers created so far. */
  created = 0;
  /** Bytes held by live buffers. */
  bytes = 0;
  private readonly buffers = new Map<string, GPUBuffer>();
  private uniformsUsed = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
  ) {}

  /** The buffer called name, (re)created when its size or usage changes. Sizes round up to 4 bytes. */
  buffer(name: string, byteSize: number, usage: GPUBufferUsageFlags = storageUsage): GPUBuffer {
    const size = Math.max(4, Math.ceil(byteSize / 4) * 4);
    const existing = this.buffers.get(name);
    if (existing !== undefined && existing.size === size && existing.usage === usage) return existing;
    if (existing !== undefined) this.release(name);
    const buffer = this.device.createBuffer({ label: `${this.label}/${name}`, size, usage });
    this.buffers.set(name, buffer);
    this.created++;
    this.bytes += size;
    return buffer;
  }

  /** A mappable buffer to copy name's contents into before reading them on the CPU. */
  readback(name: string, byteSize: number): GPUBuffer {
    return this.buffer(`readback/${name}`, byteSize, readbackUsage);
  }

  /** The next free uniform buffer of the current submission. */
  nextUniform(): GPUBuffer {
    return this.buffer(`uniforms/${this.uniformsUsed++}`, uniformBytes, uniformUsage);
  }

  /** Called after a submit: later queue writes to the ring are ordered after the submitted work. */
  restartUniforms(): void {
    this.uniformsUsed = 0;
  }

  release(name: string): void {
    const buffer = this.buffers.get(name);
    if (buffer === undefined) return;
    this.bytes -= buffer.size;
    buffer.destroy();
    this.buffers.delete(name);
  }

  destroy(): void {
    for (const name of [...this.buffers.keys()]) this.release(name);
  }
}
