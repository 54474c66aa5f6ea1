// HTTP layer against a real server on an ephemeral port: byte ranges, traversal, headers, API fallbacks.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpHandler } from './app';
import { parseRange, resolveUnderRoot } from './static-files';

let server: Server;
let base: string;
const modelBytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);

beforeAll(async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'prufed-http-'));
  const webRoot = path.join(dir, 'web');
  const publicRoot = path.join(dir, 'public');
  await mkdir(webRoot, { recursive: true });
  await mkdir(path.join(publicRoot, 'models', 'm'), { recursive: true });
  await writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>x</title>');
  await writeFile(path.join(webRoot, 'dashboard.html'), '<!doctype html><title>dashboard</title>');
  await writeFile(path.join(publicRoot, 'models', 'm', 'model.safetensors'), modelBytes);
  await writeFile(path.join(dir, 'secret.txt'), 'do not serve');
  const handler = createHttpHandler({ webRoot, publicRoot, pages: { '/dashboard': 'dashboard.html' } });
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('http app', () => {
  it('serves the web app with cross-origin isolation and security headers', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves a page of the web app at its clean path, and nothing for an unknown one', async () => {
    const res = await fetch(`${base}/dashboard?token=t`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>dashboard</title>');
    expect((await fetch(`${base}/toString`)).status).toBe(404);
  });

  it('serves a byte range of a model file with 206 and Content-Range', async () => {
    const res = await fetch(`${base}/models/m/model.safetensors`, { headers: { Range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([...modelBytes.subarray(10, 20)]);
  });

  it('answers 416 for an unsatisfiable range', async () => {
    const res = await fetch(`${base}/models/m/model.safetensors`, { headers: { Range: 'bytes=5000-' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
  });

  it('refuses path traversal, encoded or not', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/models/..%2f..%2fsecret.txt', '/%00']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).not.toBe(200);
      expect(await res.text()).not.toContain('do not serve');
    }
  });

  it('answers JSON for the API and 404 for unknown paths and 405 for writes', async () => {
    expect(await (await fetch(`${base}/api/health`)).json()).toEqual({ ok: true });
    expect((await fetch(`${base}/api/nope`)).status).toBe(404);
    expect((await fetch(`${base}/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('parseRange', () => {
  it('handles open, suffix and clamped ranges', () => {
    expect(parseRange('bytes=0-', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=9-3', 10)).toBe('unsatisfiable');
    expect(parseRange('items=0-1', 10)).toBeUndefined();
  });
});

describe('resolveUnderRoot', () => {
  it('keeps paths inside the root', () => {
    expect(resolveUnderRoot('/srv/root', '/a/b.txt')).toBe('/srv/root/a/b.txt');
    expect(resolveUnderRoot('/srv/root', '/a/../../etc/passwd')).toBeUndefined();
    expect(resolveUnderRoot('/srv/root', '/%E0%A4%A')).toBeUndefined();
  });
});
