// The machine a study or report ran on, recorded beside its numbers (DESIGN.md: a figure comes with
// the command that produced it and the machine it ran on).
import os from 'node:os';

export interface Hardware {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** The 1, 5 and 15 minute load averages, e.g. "1.02 0.98 0.75": other work sharing the cores. */
  loadAverage: string;
}

export function hardware(): Hardware {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown CPU',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}
