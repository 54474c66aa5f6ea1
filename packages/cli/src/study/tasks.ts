// Task lists and metric names for the study and report scripts; how each task is scored lives in
// @prufed/model (task-scoring.ts), re-exported here for them.
import { InputError, TASKS, type TaskName } from '@prufed/model';

export { maxNewTokens, noRepeatNgram, primaryMetric } from '@prufed/model';

/** Human names of the metrics, for table headers. */
export const metricName: Record<'exactMatch' | 'f1', string> = { exactMatch: 'exact match', f1: 'token F1' };

/** Parses a comma-separated task list (`define,pos`); an unknown name is an InputError naming `option`. */
export function parseTasks(list: string, option = '--tasks'): TaskName[] {
  const tasks = list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0)
    .map((name) => {
      const task = TASKS.find((t) => t === name);
      if (!task) throw new InputError(`${option}: unknown task "${name}"; use some of ${TASKS.join(', ')}`);
      return task;
    });
  if (tasks.length === 0) throw new InputError(`${option} is empty; use some of ${TASKS.join(', ')}`);
  return tasks;
}
