// `npm start` entry: serves the web app and public/ over HTTP.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadServerConfig } from './config';
import { createHttpHandler } from './http/app';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = loadServerConfig(process.env, repoRoot);
if (!existsSync(path.join(config.webRoot, 'index.html'))) {
  console.warn(`prufed: ${config.webRoot} has no index.html; run "npm run build" first (npm start does).`);
}
const handler = createHttpHandler(config);
const server = createServer((req, res) => {
  handler(req, res).catch((error: unknown) => {
    console.error('prufed: request failed', error);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  console.log(`PruFed is serving http://localhost:${port}/`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
