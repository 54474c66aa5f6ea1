// The HTTP request handler: JSON API first, then generated routes, then the built web app (with its pages at clean paths,
// e.g. /dashboard), then extra mounts (the served model directory), then public/ (models, datasets).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setSecurityHeaders } from './security-headers';
import { resolveUnderRoot, serveFile } from './static-files';

/** Answers a request and returns true, or returns false (nothing written) when the path is not its own. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface HttpOptions {
  /** The built web app (vite build output). */
  webRoot: string;
  /** public/: model checkpoints and datasets, served with byte-range support. */
  publicRoot: string;
  /** Routes under /api/ other than /api/health; returns false when it has no such route. */
  api?: Route;
  /** Generated responses outside /api/ (e.g. the latest ONNX models), tried before static files. */
  routes?: Route[];
  /** Directories served under a URL prefix ending in '/', e.g. the model at /models/<id>/. */
  mounts?: { prefix: string; root: string }[];
  /** Pages of the web app by path, e.g. /dashboard -> dashboard.html. */
  pages?: Record<string, string>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
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
      if (await options.api?.(req, res, url)) return;
      sendJson(res, 404, { error: `no API route ${url.pathname}` });
      return;
    }
    for (const route of options.routes ?? []) if (await route(req, res, url)) return;
    const page = Object.hasOwn(options.pages ?? {}, url.pathname) ? options.pages![url.pathname] : undefined;
    const urlPath = page
      ? `/${page}`
      : url.pathname.endsWith('/')
        ? `${url.pathname}index.html`
        : url.pathname;
    const mounted = (options.mounts ?? [])
      .filter((mount) => urlPath.startsWith(mount.prefix))
      .map((mount) => ({ root: mount.root, path: urlPath.slice(mount.prefix.length - 1) }));
    const roots = [
      { root: options.webRoot, path: urlPath },
      ...mounted,
      { root: options.publicRoot, path: urlPath },
    ];
    for (const { root, path: pathUnderRoot } of roots) {
      const file = resolveUnderRoot(root, pathUnderRoot);
      if (file === undefined) {
        sendJson(res, 400, { error: 'malformed path' });
        return;
      }
      if (await serveFile(req, res, file)) return;
    }
    sendJson(res, 404, { error: `not found: ${url.pathname}` });
  };
}
