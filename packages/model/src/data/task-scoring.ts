// How each WordNet task is judged, shared by the CLI, the studies, the model report and the server
// so that every table scores a task the same way: its primary metric and how greedy decoding runs.
import type { TaskName } from './task';

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

/**
 * Greedy decoding never repeats an n-gram of its answer (Hugging Face's no_repeat_ngram_size; 0:
 * off). Glosses only: a small model's greedy gloss otherwise loops ("a person who is a person who
 * is ..."); the one-word answers are left as the model says them.
 */
export const noRepeatNgram: Record<TaskName, number> = {
  define: 3,
  category: 0,
  hypernym: 0,
  pos: 0,
  antonym: 0,
};
