// Federated training end to end: volunteer pages at tiers a, b and c and the dashboard against the
// real server and the tiny model. Rounds complete with every tier contributing and the dashboard
// shows them; a reloaded volunteer rejoins from IndexedDB without downloading weights again; a
// closed volunteer does not hold its round up. The tests share one server, so each configures the
// run first and reads rounds relative to where the run stands.
import { copyFile, mkdir } from 'node:fs/promises';
import { expect, type Page, test } from '@playwright/test';
import { apiState, control, joinVolunteer, roundOf, runWith } from './coordinator';
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
  // Rounds start only when all three are ready, so every round has every tier.
  const { round: before } = await runWith({ sampling: { minClients: 3 }, train: { localSteps: 4 } });
  await control({ type: 'pause' });
  await page.goto(`/#/dashboard?token=${dashboardToken}`);
  await expect(page.getByTestId('dashboard-status')).toHaveText(/^Status: paused/);
  const volunteers = await Promise.all(tiers.map((tier) => joinVolunteer(browser, tier)));
  await expect(page.getByTestId('client-row')).toHaveCount(3);
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByTestId('control-result')).toHaveText('resume: done');

  const first = before + 1;
  const second = before + 2;
  for (const round of [first, second]) {
    await expect(page.locator(`[data-testid="round-row"][data-round="${round}"]`)).toHaveAttribute(
      'data-results',
      '3',
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
  await expect(page.getByTestId('evaluation-chart')).toContainText('No evaluation metrics');
  // Coverage of a round of the three tiers: a keeps [0..3], b [0..2], c [0, 1].
  await page.getByTestId('coverage-round').selectOption(String(second));
  const coverage = page.getByTestId('coverage-layer');
  await expect(coverage).toHaveCount(4);
  for (const [layer, clients] of [3, 3, 2, 1].entries()) {
    await expect(coverage.nth(layer)).toHaveAttribute('data-clients', String(clients));
  }
  await expect(page.getByTestId(`adapter-${second}-c`)).toHaveAttribute(
    'href',
    new RegExp(`/api/rounds/${second}/adapter\\?tier=c&token=`),
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

test('a volunteer reloaded mid-round rejoins from IndexedDB without downloading weights', async ({
  browser,
}) => {
  const { round: before } = await runWith({ sampling: { minClients: 2 }, train: { localSteps: 30 } });
  const [steady, reloaded] = await Promise.all([joinVolunteer(browser, 'a'), joinVolunteer(browser, 'c')]);
  const round = before + 1;
  await waitForStep(reloaded, round, 3);
  const pointsBefore = Number(await reloaded.getByTestId('loss-chart').getAttribute('data-points'));
  await reloaded.reload();
  // The tab joins again by itself; every weight comes from IndexedDB.
  await expect(reloaded.getByTestId('join-status')).toHaveText(
    /^Joined as .* Restored this tab’s checkpoint\.$/,
  );
  await expect(reloaded.getByTestId('download')).toHaveAttribute('data-fetched-bytes', '0');
  expect(Number(await reloaded.getByTestId('loss-chart').getAttribute('data-points'))).toBeGreaterThanOrEqual(
    pointsBefore,
  );
  // The round completes with the steady volunteer; the reloaded one is in the next round.
  await expect
    .poll(async () => (await apiState()).rounds.find((metrics) => metrics.round === round)?.numResults)
    .toBe(1);
  expect((await apiState()).rounds.find((metrics) => metrics.round === round)?.numFailures).toBe(1);
  await expect
    .poll(async () => Number(await reloaded.getByTestId('rounds-contributed').textContent()))
    .toBeGreaterThanOrEqual(1);
  await expect(steady.getByTestId('rounds-contributed')).not.toHaveText('0');
  await closeAll([steady, reloaded]);
});

test('a volunteer closed mid-round does not hold the round up', async ({ browser }) => {
  const { round: before } = await runWith({ sampling: { minClients: 3 }, train: { localSteps: 30 } });
  const volunteers = await Promise.all(tiers.map((tier) => joinVolunteer(browser, tier)));
  const round = before + 1;
  await waitForStep(volunteers[1], round, 3);
  await volunteers[1].context().close();
  await expect
    .poll(async () => (await apiState()).rounds.find((metrics) => metrics.round === round)?.numResults)
    .toBe(2);
  expect((await apiState()).rounds.find((metrics) => metrics.round === round)?.numFailures).toBe(1);
  await closeAll([volunteers[0], volunteers[2]]);
});
