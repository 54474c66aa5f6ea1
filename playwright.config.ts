// Browser tests (e2e/) against the real PruFed server and Debian's Chromium with WebGPU on
// SwiftShader. The webServer builds the web app, writes a tiny model into a temp dir and starts
// the server on a fixed port, configured for speed (few short local steps, short deadlines, rounds
// that wait for the dashboard's Start, every client on its own shard of the define split). Screenshots of every test land in test-results/.
import { defineConfig } from '@playwright/test';
import { baseUrl, dashboardToken, dataDir, modelDir, port } from './e2e/fixture';

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  timeout: 60_000,
  expect: { timeout: 20_000 },
  // The machine has 2 cores shared with the server: one browser at a time.
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: baseUrl,
    screenshot: 'on',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.PRUFED_CHROMIUM ?? '/usr/bin/chromium',
      // --enable-unsafe-webgpu is the one flag headless Chromium needs to expose the SwiftShader
      // adapter; the rest keep it from reaching the network.
      args: [
        '--enable-unsafe-webgpu',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: 'npx vite build && npx tsx e2e/setup-server.ts && npx tsx server/src/main.ts',
    url: `${baseUrl}/api/health`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      PRUFED_DATA_DIR: dataDir,
      PRUFED_MODEL_DIR: modelDir,
      PRUFED_DASHBOARD_TOKEN: dashboardToken,
      PRUFED_AUTO_START: 'false',
      PRUFED_LOCAL_STEPS: '4',
      PRUFED_BATCH_SIZE: '2',
      PRUFED_SEQ_LEN: '96',
      PRUFED_LORA_RANK: '4',
      PRUFED_GATHER_MS: '300',
      // Tests that depend on the deadline set their own (runWith's roundTimeoutMs).
      PRUFED_ROUND_TIMEOUT_MS: '60000',
      // Few records, so that each round's evaluation is done long before the next round ends.
      PRUFED_EVAL_SAMPLES: '8',
      PRUFED_EVAL_MAX_NEW_TOKENS: '8',
    },
  },
});
