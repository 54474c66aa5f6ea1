// Calibration text for the strategies that score layers by hidden states (contribution, angular):
// prune() calibrates on a whole file, so hand it a temporary file holding only the first lines of
// the calibration text. Shared by `prufed layer-study` and the pruning study.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '@prufed/model';
import { readInputText } from '../files';

/**
 * Runs `use` with a temporary file that holds the first `lines` non-blank lines of `calib` (and how
 * many there were), and deletes the file afterwards.
 */
export async function withCalibrationHead<T>(
  calib: string,
  lines: number,
  use: (file: string, lineCount: number) => Promise<T>,
): Promise<T> {
  const head = (await readInputText(calib, 'calibration text'))
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, lines);
  if (head.length === 0) throw new InputError(`calibration text ${calib} is empty; give one sample per line`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prufed-calib-'));
  try {
    const file = path.join(dir, 'calib.txt');
    await writeFile(file, `${head.join('\n')}\n`);
    return await use(file, head.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
