// How each WordNet task is judged, shared by scripts/model-report.ts and the studies so that every
// table scores a task the same way: its primary metric and how many tokens greedy decoding may emit.
import { InputError, TASKS, type TaskName } from '@prufed/model';

/** The metric each task is judged by: exact match for the one-word answers, token F1 for glosses. */
export const primaryMetric: Record<TaskName, 'exactMatch' | 'f1'> = {
  define: 'f1',
  category: 'exactMatch',
  hypernym: 'exactMatch',
  pos: 'exactMatch',
  antonym: 'exactMatch',
};

/** Greedy decoding stops at eos or after this many tokens: about the longest reference answer. */
export const maxNewTokens: Record<TaskName, number> = {
  define: 16,
  category: 8,
  hypernym: 10,
  pos: 4,
  antonym: 10,
};

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
