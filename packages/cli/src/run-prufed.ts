// Test support: runs the real command line (node bin/prufed.js) as a child process.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/prufed.js', import.meta.url));

export interface PrufedRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runPrufed(args: string[]): Promise<PrufedRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
