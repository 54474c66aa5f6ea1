// The HTTP request handler: JSON API first, then the built web app, then public/ (models, datasets).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setSecurityHeaders } from './security-headers';
import { resolveUnderRoot, serveFile } from './static-files';

export interface HttpOptions {
  /** The built web app (vite build output). */
  webRoot: string;
  /** public/: model checkpoints and datasets, served with byte-range support. */
  publicRoot: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function createHttpHandler(options: HttpOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    setSecurityHeaders(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendJson(res, 405, { error: `method ${req.method} is not allowed` });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/api/health') {
      sendJson(res, 200, { ok: true });
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      sendJson(res, 404, { error: `no API route ${url.pathname}` });
      return;
    }
    const urlPath = url.pathname.endsWith('/') ? `${url.pathname}index.html` : url.pathname;
    for (const root of [options.webRoot, options.publicRoot]) {
      const file = resolveUnderRoot(root, urlPath);
      if (file === undefined) {
        sendJson(res, 400, { error: 'malformed path' });
        return;
      }
      if (await serveFile(req, res, file)) return;
    }
    sendJson(res, 404, { error: `not found: ${url.pathname}` });
  };
}
