// CPU time of the calling thread, for the coordinator's update-path counters. process.cpuUsage()
// sums every thread of the process (GC helpers, libuv's pool), so on a busy server it charges the
// update path with work done beside it; on Linux the kernel reports this thread's own time on a core
// in nanoseconds (/proc/thread-self/schedstat, first field), which is used where it can be read.
import { openSync, readSync } from 'node:fs';

// Opened once and re-read from offset 0: two reads per update sit on the server's hot path. The
// thread-self link resolves at open, so this is the thread that imports the module (the event loop).
const schedstat = (() => {
  try {
    return { fd: openSync('/proc/thread-self/schedstat', 'r'), buffer: Buffer.alloc(128) };
  } catch {
    return null;
  }
})();

function readSchedstatMs(): number | null {
  if (schedstat === null) return null;
  try {
    const length = readSync(schedstat.fd, schedstat.buffer, 0, schedstat.buffer.length, 0);
    const ns = Number(schedstat.buffer.toString('latin1', 0, length).split(' ', 1)[0]);
    return Number.isFinite(ns) ? ns / 1e6 : null;
  } catch {
    return null;
  }
}

const hasSchedstat = readSchedstatMs() !== null;

/** Milliseconds of CPU time so far: this thread's where the OS says, else the whole process's. */
export function threadCpuMs(): number {
  if (hasSchedstat) {
    const ms = readSchedstatMs();
    if (ms !== null) return ms;
  }
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Whether threadCpuMs measures this thread alone (else the whole process). */
export const threadCpuIsPerThread = hasSchedstat;
