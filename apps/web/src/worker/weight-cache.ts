// The IndexedDB store behind the weight cache: raw byte ranges of model files, keyed by the model's
// version (the server's ETag) and the range, so a second visit reads every kept tensor locally.
import { type IDBPDatabase, openDB } from 'idb';

/** Bytes by key; the cache logic (weights-download.ts) works over any store, e.g. a Map in tests. */
export interface ByteStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  clear(): Promise<void>;
}

const dbName = 'prufed-weights';
const storeName = 'ranges';

/** The origin's weight cache in IndexedDB. */
export async function openIdbByteStore(): Promise<ByteStore> {
  let db: IDBPDatabase;
  try {
    db = await openDB(dbName, 1, {
      upgrade(database) {
        database.createObjectStore(storeName);
      },
    });
  } catch (error) {
    throw new Error(
      `IndexedDB is not available (${(error as Error).message}); model weights cannot be cached. ` +
        'Leave private browsing mode or allow site data for this page, then reload',
    );
  }
  return {
    async get(key) {
      const value: ArrayBuffer | undefined = await db.get(storeName, key);
      return value === undefined ? undefined : new Uint8Array(value);
    },
    async put(key, bytes) {
      // Store exactly these bytes, not the whole buffer a view may share.
      await db.put(storeName, bytes.slice().buffer, key);
    },
    async clear() {
      await db.clear(storeName);
    },
  };
}
