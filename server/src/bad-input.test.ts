// Bad input against the real server: every malformed message type is rejected with its reason (or
// dropped), nothing crashes, and the round's global is the mean of the valid updates only.
import type { Tensor } from '@prufed/model';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ProtocolClient } from './protocol-client';
import {
  apiJson,
  encode,
  expectedMean,
  maxDifference,
  removeDirs,
  roundAdapter,
  shiftedUpdate,
  startTestServer,
  type TestServer,
  tempDataDir,
  tinyModelDir,
} from './test-helpers';

const dirs: string[] = [];
let server: TestServer;

beforeAll(async () => {
  const modelDir = await tinyModelDir();
  const dataDir = await tempDataDir();
  dirs.push(modelDir, dataDir);
  server = await startTestServer(modelDir, dataDir, {
    minClients: 2,
    maxClients: 2,
    quorum: 1,
    maxUpdateNorm: 5,
    rounds: 1,
  });
});

afterAll(async () => {
  await server.close();
  await removeDirs(...dirs);
});

/** A safetensors file written by hand, with any dtype string. */
function rawSafetensors(
  tensors: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, { dtype, shape, bytes }] of Object.entries(tensors)) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const { bytes } of Object.values(tensors)) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

function withTensor(tensors: Map<string, Tensor>, name: string, tensor: Tensor): Map<string, Tensor> {
  return new Map([...tensors, [name, tensor]]);
}

/** Resolves when the server closes the raw WebSocket. */
function closedBy(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('bad input', () => {
  it('rejects every malformed update with its reason, survives garbage, and aggregates only valid updates', async () => {
    const [a, c] = await Promise.all([
      ProtocolClient.connect(server.url),
      ProtocolClient.connect(server.url),
    ]);
    await a.hello('a');
    await c.hello('c');
    const previous = await roundAdapter(server, 0);
    a.ready();
    c.ready();
    const [startA, startC] = await Promise.all([a.nextRoundStart(), c.nextRoundStart()]);
    const globalBefore = server.coordinator.currentGlobal;
    const late = await ProtocolClient.connect(server.url);
    await late.hello('b');
    const anonymous = await ProtocolClient.connect(server.url);

    const meta = { round: 1, numSamples: 2, metrics: {} };
    const sliceC = shiftedUpdate(startC.bytes, 0, 0);
    const sliceA = shiftedUpdate(startA.bytes, 0, 0);
    const qName = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    const layer2 = [...sliceA].filter(([name]) => name.includes('layers.2.'));
    const withNaN = shiftedUpdate(startC.bytes, 1);
    withNaN.get(qName)!.data[3] = Number.NaN;
    // The default limit is the full-depth adapter (tier a's slice) + 64 KiB.
    const oversized = new Uint8Array(startA.bytes.length + 65536 + 1).fill(1);

    const cases: [string, Promise<unknown>][] = [
      ['wrong-round', c.update({ ...meta, round: 2 }, encode(sliceC))],
      ['unknown-client', anonymous.update(meta, encode(sliceC))],
      ['unknown-client', late.update(meta, encode(sliceC))],
      ['extra-layers', c.update(meta, encode(new Map([...sliceC, ...layer2])))],
      [
        'wrong-shape',
        c.update(meta, encode(withTensor(sliceC, qName, { shape: [2, 31], data: new Float32Array(62) }))),
      ],
      [
        'malformed',
        c.update(
          meta,
          rawSafetensors({ [qName]: { dtype: 'I32', shape: [2, 32], bytes: new Uint8Array(256) } }),
        ),
      ],
      ['non-finite', c.update(meta, encode(withNaN))],
      ['norm-too-large', c.update(meta, encode(shiftedUpdate(startC.bytes, 1, 10)))],
      ['payload-too-large', c.update(meta, oversized)],
      [
        'malformed',
        c.update(
          meta,
          Uint8Array.from({ length: 100 }, (_, i) => (i * 37) % 256),
        ),
      ],
      ['bad-num-samples', c.update({ ...meta, numSamples: 1e9 }, encode(sliceC))],
      ['malformed', c.socket.timeout(5000).emitWithAck('update', null as never, encode(sliceC))],
      [
        'malformed',
        c.socket.timeout(5000).emitWithAck('update', { ...meta, round: '1' } as never, encode(sliceC)),
      ],
      ['malformed', c.socket.timeout(5000).emitWithAck('update', meta, 'not bytes' as never)],
    ];
    for (const [code, reply] of cases) {
      expect(await reply, code).toMatchObject({ accepted: false, code, reason: expect.any(String) });
    }

    // Garbage with no or non-function acks, unknown events, bad hellos and progress: no crash, no reply needed.
    const loose = c.socket as unknown as { emit(...args: unknown[]): void };
    loose.emit('update');
    loose.emit('update', 'garbage', 42, 'not a function');
    loose.emit('progress', { round: Number.NaN });
    loose.emit('progress', 'x', () => 0);
    loose.emit('ready', 1, 2, 3);
    loose.emit('no-such-event', { a: 1 });
    loose.emit('hello', 'again', 5);
    expect(await anonymous.socket.timeout(5000).emitWithAck('hello', { bogus: 1 } as never)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('hello'),
    });

    // A frame above Socket.IO's maxHttpBufferSize: the server drops that connection.
    const flooder = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise((resolve) => flooder.once('connect', () => resolve(undefined)));
    const dropped = new Promise<string>((resolve) => flooder.once('disconnect', resolve));
    flooder.emit('update', meta, new Uint8Array(4 << 20));
    expect(await dropped).toContain('close');

    // Raw WebSocket frames that are not Engine.IO / Socket.IO packets.
    const wsUrl = `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
    for (const frame of ['not a packet', '4garbage{', Buffer.from([0xff, 0x00, 0x13])]) {
      const ws = new WebSocket(wsUrl);
      await new Promise((resolve) => ws.once('open', resolve));
      const closed = closedBy(ws);
      ws.send('40');
      ws.send(frame);
      await closed;
    }

    expect(server.coordinator.currentGlobal).toBe(globalBefore);
    expect((await fetch(`${server.url}/api/health`)).status).toBe(200);

    // The valid updates, then a duplicate.
    const updateA = { tensors: shiftedUpdate(startA.bytes, 2), numSamples: 3 };
    const updateC = { tensors: shiftedUpdate(startC.bytes, 3), numSamples: 1 };
    expect(await a.update({ ...meta, numSamples: 3 }, encode(updateA.tensors))).toEqual({ accepted: true });
    expect(await a.update({ ...meta, numSamples: 3 }, encode(updateA.tensors))).toMatchObject({
      accepted: false,
      code: 'duplicate-client',
    });
    expect(await c.update({ ...meta, numSamples: 1 }, encode(updateC.tensors))).toEqual({ accepted: true });
    expect(await c.nextRoundEnd()).toEqual({ round: 1, included: true, aggregated: true });
    expect(
      maxDifference(await roundAdapter(server, 1), expectedMean(previous, [updateA, updateC])),
    ).toBeLessThan(1e-6);

    const state = await apiJson<{ counters: { rejected: Record<string, number> } }>(server, '/api/state');
    expect(state.counters.rejected).toMatchObject({
      'wrong-round': 1,
      'unknown-client': 2,
      'extra-layers': 1,
      'wrong-shape': 1,
      'non-finite': 1,
      'norm-too-large': 1,
      'payload-too-large': 1,
      'bad-num-samples': 1,
      'duplicate-client': 1,
    });
    expect(state.counters.rejected.malformed).toBeGreaterThanOrEqual(5);
    expect(
      server.logs.some((line) => line.includes('rejected an update') && line.includes('non-finite')),
    ).toBe(true);
    for (const client of [a, c, late, anonymous]) client.close();
    flooder.close();
  });
});
