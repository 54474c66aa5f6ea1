// CPU time of the calling thread, for the coordinator's update-path counters. process.cpuUsage()
// sums every thread of the process (GC helpers, libuv's pool), so on a busy server it charges the
// update path with work done beside it; on Linux the kernel reports this thread's own time on a core
// in nanoseconds (/proc/thread-self/schedstat, first field), which is used where it can be read.
import { readFileSync } from 'node:fs';

const schedstat = '/proc/thread-self/schedstat';

function readSchedstatMs(): number | null {
  try {
    const first = readFileSync(schedstat, 'latin1').split(' ', 1)[0];
    const ns = Number(first);
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
