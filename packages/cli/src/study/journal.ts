// The resumable record of a long study: every finished cell (one fine-tuning run, one federated
// round, ...) is appended to a JSONL file under its key the moment it is done, so an interrupted study
// picks up where it stopped. The first line holds the study's configuration; reopening with another
// configuration is refused, because mixing the two would silently corrupt the results.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, FormatError } from '@prufed/model';

interface Header {
  journal: 1;
  config: unknown;
}

interface Entry<T> {
  key: string;
  value: T;
}

export class Journal<T> {
  private readonly entries = new Map<string, T>();

  private constructor(readonly file: string) {}

  /**
   * Opens (or creates) the journal at `file` for `config` (JSON-serialisable). `fresh` deletes what
   * the file held first. A file written for a different configuration is a ConfigError.
   */
  static open<T>(file: string, config: unknown, fresh = false): Journal<T> {
    const journal = new Journal<T>(file);
    if (fresh) rmSync(file, { force: true });
    const wanted = JSON.stringify(config);
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true });
      appendFileSync(file, `${JSON.stringify({ journal: 1, config } satisfies Header)}\n`);
      return journal;
    }
    const lines = readFileSync(file, 'utf8').split('\n');
    const header = parseLine<Header>(lines[0], file, 1);
    if (header.journal !== 1)
      throw new FormatError(`${file} is not a study journal; delete it or use --fresh`);
    if (JSON.stringify(header.config) !== wanted) {
      throw new ConfigError(
        `${file} holds results of a different configuration; rerun with the same options, ` +
          'pass --fresh to start over, or choose another --work directory',
      );
    }
    for (let i = 1; i < lines.length; i++) {
      if (lines[i].length === 0) continue;
      // a line cut short by a kill mid-write is the last one: that cell simply runs again
      if (i === lines.length - 1 && !lines[i].endsWith('}')) break;
      const entry = parseLine<Entry<T>>(lines[i], file, i + 1);
      journal.entries.set(entry.key, entry.value);
    }
    return journal;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): T | undefined {
    return this.entries.get(key);
  }

  /** Records a finished cell, on disk before this returns. */
  add(key: string, value: T): void {
    appendFileSync(this.file, `${JSON.stringify({ key, value } satisfies Entry<T>)}\n`);
    this.entries.set(key, value);
  }

  get size(): number {
    return this.entries.size;
  }

  values(): T[] {
    return [...this.entries.values()];
  }
}

function parseLine<T>(line: string | undefined, file: string, lineNumber: number): T {
  try {
    return JSON.parse(line ?? '') as T;
  } catch {
    throw new FormatError(
      `${file} line ${lineNumber} is not JSON; delete the file or use --fresh to start over`,
    );
  }
}
