// The volunteer's training checkpoint in IndexedDB: the live statistics and, while a round trains,
// the adapter after the last finished local step with its step count and round, so a reloaded tab
// shows where it was and resumes the round when the server starts the same round from the same
// global again (after a retry or a cancel). Checkpoints are per tab (a tab id in sessionStorage), so
// two volunteer tabs of one browser do not overwrite each other. The volunteer's own JSONL file is
// kept here too: it never leaves the browser.
import { type IDBPDatabase, openDB } from 'idb';
import type { VolunteerStats } from './round-loop';

/** A round in progress: resumable only against the same round and the same global adapter. */
export interface RoundCheckpoint {
  round: number;
  /** Local steps done. */
  step: number;
  /** SHA-256 (hex) of the round's global adapter bytes. */
  globalDigest: string;
  /** PEFT safetensors of the adapter after `step` steps. */
  adapter: Uint8Array;
}

export interface Checkpoint {
  stats: VolunteerStats;
  training: RoundCheckpoint | null;
}

export interface CheckpointStore {
  load(): Promise<Checkpoint | undefined>;
  save(checkpoint: Checkpoint): Promise<void>;
  clear(): Promise<void>;
}

/** Where the volunteer's own data file lives (by name and text). */
export interface OwnDataStore {
  load(): Promise<{ name: string; text: string } | undefined>;
  save(file: { name: string; text: string }): Promise<void>;
  clear(): Promise<void>;
}

const dbName = 'prufed-volunteer';
const checkpoints = 'checkpoints';
const ownData = 'own-data';

let database: Promise<IDBPDatabase> | null = null;

function db(): Promise<IDBPDatabase> {
  database ??= openDB(dbName, 1, {
    upgrade(upgrading) {
      upgrading.createObjectStore(checkpoints);
      upgrading.createObjectStore(ownData);
    },
  });
  return database;
}

/** This tab's id: kept across reloads of the tab (sessionStorage), new in every other tab. */
export function tabId(): string {
  const key = 'prufed-tab';
  let id = sessionStorage.getItem(key);
  if (id === null) {
    id = crypto.randomUUID();
    sessionStorage.setItem(key, id);
  }
  return id;
}

function keyedStore<T>(storeName: string, key: string) {
  return {
    load: async (): Promise<T | undefined> => (await db()).get(storeName, key),
    save: async (value: T) => void (await (await db()).put(storeName, value, key)),
    clear: async () => (await db()).delete(storeName, key),
  };
}

/** This tab's checkpoint. */
export function idbCheckpointStore(): CheckpointStore {
  return keyedStore<Checkpoint>(checkpoints, tabId());
}

/** The volunteer's own data file: one per origin, reused by every tab until removed. */
export function idbOwnDataStore(): OwnDataStore {
  return keyedStore<{ name: string; text: string }>(ownData, 'file');
}

/** SHA-256 of bytes as hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.slice()));
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}
