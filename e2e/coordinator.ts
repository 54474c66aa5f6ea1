// The tests' own line to the e2e server: control commands on the /dashboard namespace (as the
// dashboard sends them) to put the shared server into the state a test needs, and GET /api/state.
// Also opens volunteer pages, each in its own browser context (own IndexedDB and sessionStorage),
// as separate devices would be.
import type { Browser, Page } from '@playwright/test';
import {
  type ControlAck,
  type ControlCommand,
  type DashboardClientToServerEvents,
  type DashboardServerToClientEvents,
  type DashboardState,
  dashboardNamespace,
  type RoundSettingsPatch,
} from '@prufed/fl';
import { io, type Socket } from 'socket.io-client';
import { baseUrl, dashboardToken } from './fixture';

export async function control(command: ControlCommand): Promise<ControlAck> {
  const socket: Socket<DashboardServerToClientEvents, DashboardClientToServerEvents> = io(
    `${baseUrl}${dashboardNamespace}`,
    { auth: { token: dashboardToken }, transports: ['websocket'], forceNew: true, reconnection: false },
  );
  try {
    return await socket.timeout(10_000).emitWithAck('control', command);
  } finally {
    socket.disconnect();
  }
}

export async function apiState(): Promise<DashboardState> {
  const response = await fetch(`${baseUrl}/api/state`, {
    headers: { Authorization: `Bearer ${dashboardToken}` },
  });
  if (!response.ok) throw new Error(`GET /api/state: HTTP ${response.status}`);
  return (await response.json()) as DashboardState;
}

/** Applies the settings (cancelling any open round) and makes sure the run is running. */
export async function runWith(settings: RoundSettingsPatch): Promise<DashboardState> {
  const configured = await control({ type: 'configure', settings });
  if (!configured.ok) throw new Error(`configure refused: ${configured.reason}`);
  const state = await apiState();
  if (state.status !== 'running') {
    const started = await control({ type: state.status === 'paused' ? 'resume' : 'start' });
    if (!started.ok) throw new Error(`start refused: ${started.reason}`);
  }
  return apiState();
}

/** A volunteer page at `tier` in a fresh context, joined; resolves once its model is loaded. */
export async function joinVolunteer(
  browser: Browser,
  tier: 'a' | 'b' | 'c',
  beforeJoin?: (page: Page) => Promise<void>,
): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`volunteer page at tier ${tier}: ${error.message}`));
  await beforeJoin?.(page);
  await page.goto(`/?tier=${tier}`);
  await page.getByRole('button', { name: 'Join training' }).click();
  await page
    .getByTestId('join-status')
    .filter({ hasText: /^Joined as / })
    .waitFor();
  return page;
}

/**
 * Routes the page's Socket.IO WebSocket through the test, which silences it when the page first
 * sends an `update` (it has trained the round and goes quiet before delivering): from then on
 * nothing passes either way, yet the connection stays open (as with a frozen tab or a dead network
 * path), so the server sees no disconnect until its ping timeout. Silencing at the update itself,
 * rather than at a step the test polls for, cannot lose a race to a fast engine.
 */
export async function silencedAtFirstUpdate(page: Page): Promise<{ silenced(): boolean }> {
  let silent = false;
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (typeof message === 'string' && /^4\d+(?:-\d*)?\["update"/.test(message)) silent = true;
      if (!silent) server.send(message);
    });
    server.onMessage((message) => {
      if (!silent) ws.send(message);
    });
  });
  return { silenced: () => silent };
}

/** The page's round and local step, from the live view's data attributes. */
export async function roundOf(page: Page): Promise<{ round: number; step: number; phase: string }> {
  const status = page.getByTestId('round-status');
  if ((await status.count()) === 0) return { round: 0, step: 0, phase: 'none' };
  return {
    round: Number(await status.getAttribute('data-round')),
    step: Number(await status.getAttribute('data-step')),
    phase: (await status.getAttribute('data-phase')) ?? '',
  };
}
