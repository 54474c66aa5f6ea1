// Who may steer the run: the dashboard refuses a tab without the researcher's token (or with a
// wrong one), and a volunteer connection can neither join the /dashboard namespace without the
// token nor control the run from the volunteers' namespace.
import { expect, test } from '@playwright/test';
import {
  type ClientToServerEvents,
  dashboardNamespace,
  protocolVersion,
  type ServerToClientEvents,
} from '@prufed/fl';
import { io, type Socket } from 'socket.io-client';
import { apiState } from './coordinator';
import { baseUrl } from './fixture';

test('the dashboard without a token, or with a wrong one, is refused', async ({ page }) => {
  // The old hash address leads to the dashboard page.
  await page.goto('/#/dashboard');
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('dashboard-refused')).toHaveText(/needs the researcher's token/);
  await page.goto('/#/dashboard?token=wrong');
  await expect(page.getByTestId('dashboard-refused')).toHaveText(
    /refused this dashboard: dashboard token missing or wrong/,
  );
  await expect(page.getByTestId('clients')).toHaveCount(0);
  const api = await page.request.get('/api/state');
  expect(api.status()).toBe(401);
});

test('a volunteer cannot send control events', async () => {
  const before = await apiState();
  const volunteer: Socket<ServerToClientEvents, ClientToServerEvents> = io(baseUrl, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  try {
    const hello = await volunteer.timeout(10_000).emitWithAck('hello', {
      protocolVersion,
      engine: 'cpu',
      preferredTier: 'c',
      tierReason: 'e2e',
      gpu: null,
      deviceMemoryGb: null,
    });
    expect(hello.ok).toBe(true);
    // `control` is not a volunteer event: the server never answers it and nothing changes.
    const untyped = volunteer as unknown as Socket;
    const command = before.status === 'paused' ? { type: 'resume' } : { type: 'pause' };
    await expect(untyped.timeout(1_000).emitWithAck('control', command)).rejects.toThrow(/timed out/);
    expect((await apiState()).status).toBe(before.status);
  } finally {
    volunteer.disconnect();
  }
  const intruder = io(`${baseUrl}${dashboardNamespace}`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  const refusal = await new Promise<string>((resolve) =>
    intruder.on('connect_error', (error) => resolve(error.message)),
  );
  intruder.disconnect();
  expect(refusal).toMatch(/dashboard token missing or wrong/);
});
