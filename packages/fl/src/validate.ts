// Validation of a client's update before it may touch the aggregate: pure functions that say
// whether to accept, and if not a code and a reason the client is told in the update ack.
// The adapter arrives as PEFT safetensors bytes: acceptUpdate checks the envelope (size, round,
// client) before decoding, decodes with @prufed/model's adapterFromPeft, then runs validateUpdate.
import { adapterFromPeft, ConfigError, FormatError, InputError, type LoraAdapter } from '@prufed/model';
import { type AdapterIssueCode, checkAdapter } from './adapter-check';
import type { ClientInfo, FitResult } from './types';

export type RejectionCode =
  | 'payload-too-large'
  | 'wrong-round'
  | 'unknown-client'
  | 'duplicate-client'
  | 'bad-num-samples'
  | AdapterIssueCode
  | 'non-finite'
  | 'norm-too-large'
  | 'malformed';

export type Validation = { ok: true } | { ok: false; code: RejectionCode; reason: string };

/** What the server knows about an update before decoding its adapter. */
export interface UpdateEnvelope {
  round: number;
  clientId: string;
  numSamples: number;
  payloadBytes: number;
}

export interface RoundExpectation {
  round: number;
  /** The clients assigned to this round, by id. */
  assigned: ReadonlyMap<string, ClientInfo>;
  /** Clients whose update this round was already accepted. */
  submitted: ReadonlySet<string>;
  maxPayloadBytes: number;
  /** Caps a client's weight in the mean: a client claiming huge numSamples would dominate it. */
  maxNumSamples: number;
}

export interface UpdateExpectation extends RoundExpectation {
  /** The global adapter the client received at round start; holds at least the client's layers. */
  global: LoraAdapter;
  /**
   * Bound on the L2 norm of the DELTA (update - global) over all of the client's tensors. The delta,
   * not the adapter itself, because an honest adapter's norm grows with the rounds (and A starts
   * random), while one round of local training moves it by a bounded amount.
   */
  maxDeltaNorm: number;
}

export interface CandidateUpdate extends UpdateEnvelope {
  adapter: LoraAdapter;
}

const accepted: Validation = { ok: true };

function reject(code: RejectionCode, reason: string): Validation {
  return { ok: false, code, reason };
}

/** Checks what can be checked before decoding the adapter bytes. */
export function validateEnvelope(envelope: UpdateEnvelope, expectation: RoundExpectation): Validation {
  const { round, clientId, numSamples, payloadBytes } = envelope;
  if (payloadBytes > expectation.maxPayloadBytes) {
    return reject(
      'payload-too-large',
      `adapter payload is ${payloadBytes} bytes, the limit is ${expectation.maxPayloadBytes}; send only the layers you keep`,
    );
  }
  if (round !== expectation.round) {
    return reject('wrong-round', `update is for round ${round}, the current round is ${expectation.round}`);
  }
  if (!expectation.assigned.has(clientId)) {
    return reject('unknown-client', `client ${clientId} was not assigned to round ${round}`);
  }
  if (expectation.submitted.has(clientId)) {
    return reject('duplicate-client', `client ${clientId} already submitted an update in round ${round}`);
  }
  if (!Number.isSafeInteger(numSamples) || numSamples < 1 || numSamples > expectation.maxNumSamples) {
    return reject(
      'bad-num-samples',
      `numSamples must be an integer in [1, ${expectation.maxNumSamples}], got ${numSamples}`,
    );
  }
  return accepted;
}

/** Full validation of a decoded update: envelope, layout against the client's layers, values, norm. */
export function validateUpdate(update: CandidateUpdate, expectation: UpdateExpectation): Validation {
  const envelope = validateEnvelope(update, expectation);
  if (!envelope.ok) return envelope;
  const client = expectation.assigned.get(update.clientId)!;
  const missingInGlobal = client.keptLayers.filter((layer) => !expectation.global.layers.includes(layer));
  if (missingInGlobal.length > 0) {
    throw new InputError(
      `the expectation's global adapter lacks layers [${missingInGlobal}] of client ${client.id}; pass the global the client received`,
    );
  }
  const { adapter } = update;
  const issue = checkAdapter(adapter, {
    config: expectation.global.config,
    layers: client.keptLayers,
    shapesOf: expectation.global,
  });
  if (issue) return reject(issue.code, issue.reason);
  let squaredNorm = 0;
  for (const [key, pair] of adapter.weights) {
    const reference = expectation.global.weights.get(key)!;
    for (const name of ['A', 'B'] as const) {
      const values = pair[name].data;
      const base = reference[name].data;
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          return reject(
            'non-finite',
            `adapter ${key} ${name}[${i}] is ${values[i]}; training diverged, lower the learning rate`,
          );
        }
        const delta = values[i] - base[i];
        squaredNorm += delta * delta;
      }
    }
  }
  const norm = Math.sqrt(squaredNorm);
  if (!(norm <= expectation.maxDeltaNorm)) {
    return reject(
      'norm-too-large',
      `the update moves the adapter by L2 norm ${norm.toPrecision(4)}, the bound is ${expectation.maxDeltaNorm}`,
    );
  }
  return accepted;
}

/** An `update` as it arrives: parsed metadata, the sender's id and the PEFT safetensors bytes. */
export interface IncomingUpdate {
  round: number;
  clientId: string;
  numSamples: number;
  metrics: Record<string, number>;
  bytes: Uint8Array;
}

export type Acceptance = { ok: true; result: FitResult } | { ok: false; code: RejectionCode; reason: string };

/**
 * Envelope check, PEFT decoding (with the global's LoRA config: r, alpha, target modules) and
 * full validation in one call; 'malformed' when the bytes are not a PEFT adapter of that config.
 */
export function acceptUpdate(incoming: IncomingUpdate, expectation: UpdateExpectation): Acceptance {
  const { bytes, metrics, ...meta } = incoming;
  const envelope = validateEnvelope({ ...meta, payloadBytes: bytes.byteLength }, expectation);
  if (!envelope.ok) return envelope;
  const { r, alpha, targetModules } = expectation.global.config;
  let adapter: LoraAdapter;
  try {
    adapter = adapterFromPeft(bytes, {
      peft_type: 'LORA',
      r,
      lora_alpha: alpha,
      target_modules: targetModules,
    });
  } catch (error) {
    if (error instanceof FormatError || error instanceof ConfigError || error instanceof InputError) {
      return {
        ok: false,
        code: 'malformed',
        reason: `adapter bytes are not a PEFT LoRA adapter: ${error.message}`,
      };
    }
    throw error;
  }
  const validation = validateUpdate({ ...meta, payloadBytes: bytes.byteLength, adapter }, expectation);
  if (!validation.ok) return validation;
  return { ok: true, result: { clientId: meta.clientId, numSamples: meta.numSamples, adapter, metrics } };
}
