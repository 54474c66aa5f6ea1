// Federated training end to end: volunteer pages at tiers a, b and c and the dashboard page against
// the real server and the tiny model. Rounds complete with every tier contributing and the dashboard
// shows them (devices, data shards, per-layer update norms, the server's evaluation of each round,
// ONNX downloads); a volunteer reloaded mid-round claims
// its round back and finishes it from IndexedDB without downloading weights again; a volunteer
// whose socket goes silent mid-round (open, as with a frozen tab) holds its round only until the
// deadline. The
// tests share one server, so each configures the run first and reads rounds relative to where the
// run stands.
import { copyFile, mkdir } from 'node:fs/promises';
import { expect, type Page, test } from '@playwright/test';
import { apiState, control, joinVolunteer, roundOf, runWith, silencedAtFirstUpdate } from './coordinator';
import { dashboardToken } from './fixture';

test.describe.configure({ mode: 'serial' });

const tiers = ['a', 'b', 'c'] as const;

async function closeAll(pages: Page[]): Promise<void> {
  await Promise.all(pages.map((page) => page.context().close()));
}

/** Waits until the page trains `round` and has done at least `steps` local steps of it. */
async function waitForStep(page: Page, round: number, steps: number): Promise<void> {
  await expect
    .poll(async () => {
      const at = await roundOf(page);
      return at.round === round && at.step >= steps;
    })
    .toBe(true);
}

test('three tiers train two rounds together and the dashboard shows them', async ({
  browser,
  page,
}, testInfo) => {
  // Rounds start only when all three are ready, so every round has every tier. The deadline is
  // not under test here: it is long, so that a page slowed by two other browsers on two cores still
  // delivers (before pages compiled their WebGPU kernels at join, round 1 took 10-12 s here).
  test.setTimeout(180_000);
  const roundTimeoutMs = 60_000;
  const { round: before } = await runWith({
    sampling: { minClients: 3 },
    train: { localSteps: 4 },
    roundTimeoutMs,
  });
  await control({ type: 'pause' });
  // The address the server prints at start.
  await page.goto(`/dashboard?token=${dashboardToken}`);
  await expect(page.getByTestId('dashboard-status')).toHaveText(/^Status: paused/);
  const volunteers = await Promise.all(tiers.map((tier) => joinVolunteer(browser, tier)));
  await expect(page.getByTestId('client-row')).toHaveCount(3);
  // Each row shows the device from the hello report: engine, adapter and the tier choice's reason.
  for (const tier of tiers) {
    await expect(
      page.locator(`[data-testid="client-row"][data-tier="${tier}"] [data-testid="client-device"]`),
    ).toHaveText(new RegExp(`engine · .*\\?tier=${tier} override`));
  }
  await expect(volunteers[0].getByTestId('data-source')).toHaveText(
    /^Training on public WordNet data, shard \d of 10 \(dirichlet, alpha 0\.5, seed 0\) of the define train split: [1-9][\d,]* examples\.$/,
  );
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByTestId('control-result')).toHaveText('resume: done');

  const first = before + 1;
  const second = before + 2;
  for (const round of [first, second]) {
    await expect(page.locator(`[data-testid="round-row"][data-round="${round}"]`)).toHaveAttribute(
      'data-results',
      '3',
      { timeout: roundTimeoutMs + 10_000 },
    );
  }
  for (const volunteer of volunteers) {
    await expect
      .poll(async () => Number(await volunteer.getByTestId('rounds-contributed').textContent()))
      .toBeGreaterThanOrEqual(2);
    await expect(volunteer.getByTestId('loss-chart')).toHaveAttribute('data-points', /^[1-9]/);
  }
  // Per-tier training loss of both rounds, in the table and in the chart.
  for (const round of [first, second]) {
    await expect(
      page.locator(`[data-testid="round-row"][data-round="${round}"] [data-testid="round-tier-loss"]`),
    ).toHaveText(/^a: \d+\.\d+ · b: \d+\.\d+ · c: \d+\.\d+$/);
  }
  await expect
    .poll(async () => Number(await page.getByTestId('tier-loss-chart').getAttribute('data-points')))
    .toBeGreaterThanOrEqual(2);
  // The server evaluates each tier's new global in the background; with the run paused (no more
  // rounds), both evaluation charts (eval loss and token F1) get a point per completed round.
  await control({ type: 'pause' });
  const completed = (await apiState()).rounds.length;
  expect(completed).toBeGreaterThanOrEqual(second);
  const evaluationCharts = page.getByTestId('evaluation-chart');
  await expect(evaluationCharts).toHaveCount(2);
  for (const chart of await evaluationCharts.all()) {
    await expect(chart).toHaveAttribute('data-points', String(completed), { timeout: 30_000 });
  }
  await expect(evaluationCharts.first()).toContainText('Server-side evaluation: loss by tier');
  // Coverage of a round of the three tiers: a keeps [0..3], b [0..2], c [0, 1].
  await page.getByTestId('coverage-round').selectOption(String(second));
  const coverage = page.getByTestId('coverage-layer');
  await expect(coverage).toHaveCount(4);
  for (const [layer, clients] of [3, 3, 2, 1].entries()) {
    await expect(coverage.nth(layer)).toHaveAttribute('data-clients', String(clients));
    // Every layer was trained by someone: its mean update norm is a positive number.
    expect(Number(await coverage.nth(layer).getAttribute('data-norm'))).toBeGreaterThan(0);
  }
  await expect(page.getByTestId(`adapter-${second}-c`)).toHaveAttribute(
    'href',
    new RegExp(`/api/rounds/${second}/adapter\\?tier=c&token=`),
  );
  await expect(page.getByTestId(`onnx-${second}-c`)).toHaveAttribute(
    'href',
    new RegExp(`/api/rounds/${second}/model\\.onnx\\?tier=c&token=`),
  );
  const adapter = await page.request.get(`/api/rounds/${second}/adapter?tier=c&token=${dashboardToken}`);
  expect(adapter.status()).toBe(200);
  expect((await adapter.body()).byteLength).toBeGreaterThan(0);
  const download = page.waitForEvent('download');
  await page.getByTestId('metrics-csv').click();
  expect((await download).suggestedFilename()).toMatch(/metrics\.csv$/);

  await mkdir('docs/screenshots', { recursive: true });
  const shots = [
    { page: volunteers[0], name: 'volunteer.png' },
    { page, name: 'dashboard.png' },
  ];
  for (const shot of shots) {
    const file = testInfo.outputPath(shot.name);
    await shot.page.screenshot({ path: file, fullPage: true });
    await testInfo.attach(shot.name, { path: file, contentType: 'image/png' });
    await copyFile(file, `docs/screenshots/${shot.name}`);
  }
  await closeAll(volunteers);
});

test('a volunteer reloaded mid-round resumes its round from IndexedDB and the round includes it', async ({
  browser,
}) => {
  const { round: before } = await runWith({
    sampling: { minClients: 2 },
    train: { localSteps: 30 },
    roundTimeoutMs: 60_000,
  });
  const [steady, reloaded] = await Promise.all([joinVolunteer(browser, 'a'), joinVolunteer(browser, 'c')]);
  const round = before + 1;
  const clientId = /^Joined as (\S+):/.exec(
    (await reloaded.getByTestId('join-status').textContent()) ?? '',
  )?.[1];
  expect(clientId).toBeDefined();
  await waitForStep(reloaded, round, 3);
  await reloaded.reload();
  // The tab joins again by itself as the same client, claims its round and loads every weight from IndexedDB.
  await expect(reloaded.getByTestId('join-status')).toHaveText(
    new RegExp(
      `^Joined as ${clientId}: .* Restored this tab’s checkpoint\\. Resumed round ${round} where this tab left it\\.$`,
    ),
  );
  await expect(reloaded.getByTestId('download')).toHaveAttribute('data-fetched-bytes', '0');
  await expect(reloaded.getByTestId('last-outcome')).toHaveText(
    new RegExp(
      `^round ${round}: (resumed from the checkpoint at step \\d+ \\(AdamW moments restart from zero\\)|update accepted|.*in the new global)`,
    ),
  );
  // The round completes with both updates: the reloaded client's too, and nobody failed.
  await expect
    .poll(async () => (await apiState()).rounds.find((metrics) => metrics.round === round)?.numResults, {
      timeout: 40_000,
    })
    .toBe(2);
  expect((await apiState()).rounds.find((metrics) => metrics.round === round)?.numFailures).toBe(0);
  await expect
    .poll(async () => Number(await reloaded.getByTestId('rounds-contributed').textContent()))
    .toBeGreaterThanOrEqual(1);
  await expect(steady.getByTestId('rounds-contributed')).not.toHaveText('0');
  await closeAll([steady, reloaded]);
});

test('a volunteer whose socket goes silent mid-round, still open, is failed at the deadline', async ({
  browser,
  page,
}) => {
  // Long enough for the two live pages to deliver 6 steps on a loaded 2-core machine, WebGPU
  // (SwiftShader) included, while the silenced one stays open past it.
  const timeoutMs = 15_000;
  const startedBefore = Date.now();
  const { round: before } = await runWith({
    sampling: { minClients: 3 },
    train: { localSteps: 6 },
    roundTimeoutMs: timeoutMs,
  });
  let socket: { silenced(): boolean } | undefined;
  const volunteers = await Promise.all(
    tiers.map((tier) =>
      joinVolunteer(browser, tier, async (page) => {
        if (tier === 'b') socket = await silencedAtFirstUpdate(page);
      }),
    ),
  );
  const round = before + 1;
  // b trains the round, then goes silent as it sends its update.
  await waitForStep(volunteers[1], round, 2);
  await expect.poll(() => socket!.silenced(), { timeout: 30_000 }).toBe(true);
  // The others deliver while the round stays open for the silent one...
  for (const volunteer of [volunteers[0], volunteers[2]]) {
    await expect(volunteer.getByTestId('last-outcome')).toHaveText(
      `round ${round}: update accepted, waiting for the round to end`,
    );
  }
  expect((await apiState()).rounds.find((metrics) => metrics.round === round)).toBeUndefined();
  // ...until its deadline, which no round:start could have set before the test began.
  await expect
    .poll(async () => (await apiState()).rounds.find((metrics) => metrics.round === round)?.numResults, {
      timeout: timeoutMs + 10_000,
    })
    .toBe(2);
  expect(Date.now() - startedBefore).toBeGreaterThanOrEqual(timeoutMs);
  expect((await apiState()).rounds.find((metrics) => metrics.round === round)?.numFailures).toBe(1);
  // The state and the dashboard's rounds table say which client failed and why.
  const silent = /^Joined as (\S+):/.exec(
    (await volunteers[1].getByTestId('join-status').textContent()) ?? '',
  )?.[1];
  expect((await apiState()).failures.filter((failure) => failure.round === round)).toEqual([
    { round, clientId: silent, reason: 'missed the deadline' },
  ]);
  await page.goto(`/dashboard?token=${dashboardToken}`);
  const failures = page.locator(
    `[data-testid="round-row"][data-round="${round}"] [data-testid="round-failures"]`,
  );
  await failures.locator('summary').click();
  await expect(failures).toContainText(`${silent!.slice(0, 8)}: missed the deadline`);
  await closeAll(volunteers);
});
