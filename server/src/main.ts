// `npm start` entry: the PruFed server (web app, model files, researcher API, Socket.IO coordinator)
// configured by environment variables and PRUFED_CONFIG (see config.ts for every setting).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, FormatError, InputError } from '@prufed/model';
import { loadServerConfig } from './config';
import { startServer } from './server';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
try {
  const { config, tokenGenerated } = loadServerConfig(process.env, repoRoot);
  if (!existsSync(path.join(config.webRoot, 'index.html'))) {
    console.warn(`prufed: ${config.webRoot} has no index.html; run "npm run build" first (npm start does).`);
  }
  const server = await startServer(config);
  const publicUrl = server.url.replace('127.0.0.1', 'localhost');
  console.log(`PruFed is serving ${publicUrl}/`);
  console.log(`Dashboard: ${publicUrl}/dashboard?token=${server.token}`);
  if (tokenGenerated)
    console.log('(a random dashboard token; set PRUFED_DASHBOARD_TOKEN to keep one across restarts)');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      server.close().then(() => process.exit(0));
    });
  }
} catch (error) {
  const expected =
    error instanceof ConfigError || error instanceof FormatError || error instanceof InputError;
  console.error(`prufed: ${expected ? (error as Error).message : ((error as Error).stack ?? String(error))}`);
  process.exit(1);
}
