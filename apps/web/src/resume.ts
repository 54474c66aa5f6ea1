// What a volunteer tab remembers of its last hello (sessionStorage: per tab, kept across reloads),
// so that a reloaded tab whose checkpoint holds a round in progress can claim that round back from
// the server with the client's resume token instead of starting over as a new client.
import type { HelloAck, ResumeRequest } from '@prufed/fl';
import type { Checkpoint } from './checkpoint';

const identityKey = 'prufed-identity';

interface Identity {
  clientId: string;
  resumeToken: string;
}

export function saveIdentity(storage: Storage, ack: Extract<HelloAck, { ok: true }>): void {
  const identity: Identity = { clientId: ack.clientId, resumeToken: ack.resumeToken };
  storage.setItem(identityKey, JSON.stringify(identity));
}

export function forgetIdentity(storage: Storage): void {
  storage.removeItem(identityKey);
}

/** The hello's resume claim: the tab's client and the round its checkpoint was training, if any. */
export function resumeClaim(storage: Storage, checkpoint: Checkpoint | undefined): ResumeRequest | undefined {
  const training = checkpoint?.training;
  const stored = storage.getItem(identityKey);
  if (!training || stored === null) return undefined;
  let identity: Partial<Identity>;
  try {
    identity = JSON.parse(stored) as Partial<Identity>;
  } catch {
    return undefined;
  }
  if (typeof identity.clientId !== 'string' || typeof identity.resumeToken !== 'string') return undefined;
  return { clientId: identity.clientId, round: training.round, token: identity.resumeToken };
}
