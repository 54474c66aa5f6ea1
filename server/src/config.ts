// Server configuration from environment variables, with documented defaults.
import path from 'node:path';

export interface ServerConfig {
  port: number;
  host: string;
  webRoot: string;
  publicRoot: string;
}

export function loadServerConfig(env: NodeJS.ProcessEnv, repoRoot: string): ServerConfig {
  const port = env.PORT === undefined ? 3000 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer between 0 and 65535, got "${env.PORT}"`);
  }
  return {
    port,
    host: env.HOST ?? '127.0.0.1',
    webRoot: path.resolve(repoRoot, env.PRUFED_WEB_ROOT ?? 'dist/web'),
    publicRoot: path.resolve(repoRoot, env.PRUFED_PUBLIC_ROOT ?? 'public'),
  };
}
