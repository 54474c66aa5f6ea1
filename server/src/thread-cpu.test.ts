import { describe, expect, it } from 'vitest';
import { threadCpuIsPerThread, threadCpuMs } from './thread-cpu';

function spin(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
}

describe('threadCpuMs', () => {
  it('grows by about the time this thread spends computing, and not while it sleeps', async () => {
    const start = threadCpuMs();
    spin(60);
    const busy = threadCpuMs() - start;
    // on a loaded machine the thread may be off its core for part of the 60 ms of wall time
    expect(busy).toBeGreaterThan(5);
    expect(busy).toBeLessThan(200);
    const before = threadCpuMs();
    await new Promise((resolve) => setTimeout(resolve, 80));
    const idle = threadCpuMs() - before;
    if (threadCpuIsPerThread) expect(idle).toBeLessThan(20);
  });
});
