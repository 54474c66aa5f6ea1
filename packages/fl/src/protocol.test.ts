// Type-level tests of the protocol: checked by `npm run typecheck` (tsc), run as no-ops by Vitest.
import { describe, expectTypeOf, it } from 'vitest';
import type {
  Bytes,
  ClientToServerEvents,
  DashboardClientToServerEvents,
  DashboardServerToClientEvents,
  HelloAck,
  HelloReport,
  InterServerEvents,
  ProtocolMessage,
  RoundStartInfo,
  ServerToClientEvents,
  UpdateAck,
  UpdateMeta,
} from './protocol';

// socket.io's constraint on event maps (socket.io-component-emitter's EventsMap).
// biome-ignore lint/suspicious/noExplicitAny: copied from socket.io's own declaration.
type EventsMap = { [event: string]: any };
type AllEvents = ClientToServerEvents &
  ServerToClientEvents &
  DashboardClientToServerEvents &
  DashboardServerToClientEvents;

describe('protocol types', () => {
  it('event maps satisfy socket.io generics', () => {
    expectTypeOf<ClientToServerEvents>().toExtend<EventsMap>();
    expectTypeOf<ServerToClientEvents>().toExtend<EventsMap>();
    expectTypeOf<DashboardClientToServerEvents>().toExtend<EventsMap>();
    expectTypeOf<DashboardServerToClientEvents>().toExtend<EventsMap>();
    expectTypeOf<InterServerEvents>().toExtend<EventsMap>();
  });

  it('the message union names exactly the events of the maps', () => {
    expectTypeOf<ProtocolMessage['event']>().toEqualTypeOf<keyof AllEvents>();
  });

  it('event names and arguments follow DESIGN.md', () => {
    expectTypeOf<Parameters<ClientToServerEvents['hello']>>().toEqualTypeOf<
      [report: HelloReport, ack: (reply: HelloAck) => void]
    >();
    expectTypeOf<Parameters<ClientToServerEvents['update']>>().toEqualTypeOf<
      [meta: UpdateMeta, adapter: Bytes, ack: (reply: UpdateAck) => void]
    >();
    expectTypeOf<Parameters<ServerToClientEvents['round:start']>>().toEqualTypeOf<
      [info: RoundStartInfo, globalAdapter: Bytes]
    >();
    expectTypeOf<
      Extract<ProtocolMessage, { event: 'round:start' }>['info']
    >().toEqualTypeOf<RoundStartInfo>();
    expectTypeOf<Uint8Array>().toExtend<Bytes>();
  });
});
