/**
 * The browser path's HTTP server (`tlspool ui --web`): the built renderer
 * as static files and the WebSocket bridge at /ws, on 127.0.0.1 only, each
 * request checked by the Guard, every answer with headers that keep the page
 * to itself. The token is only ever read from the WebSocket's URL: nothing
 * here sets a cookie or anything else the browser would send elsewhere.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { WebSocketServer } from 'ws';
import type { DesktopAgent } from '../agent/agent';
import { Failure } from '../../model/failure';
import { TOKEN_PARAM, WS_PATH } from '../../contract/ws';
import { bridge } from './bridge';
import { Guard, newToken } from './guard';

export interface WebUiOptions {
  agent: DesktopAgent;
  /** The built renderer (index.html and its assets). */
  rendererDir: string;
  /** 0 (default): a free port. */
  port?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export class WebUi {
  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly guard: Guard,
    readonly port: number,
  ) {}

  /** The URL to open: it carries the token, which the page moves to its tab's sessionStorage. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/?${TOKEN_PARAM}=${this.guard.token}`;
  }

  static async start(opts: WebUiOptions): Promise<WebUi> {
    const root = path.resolve(opts.rendererDir);
    if (!fs.existsSync(path.join(root, 'index.html'))) {
      throw new Failure('ENOENT', `the browser UI is not built (no ${path.join(root, 'index.html')}); run npm run setup`);
    }
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const guard = new Guard(newToken(), port);
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    const ui = new WebUi(server, wss, guard, port);
    server.on('request', (req, res) => ui.serve(root, req, res));
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const verdict = url.pathname === WS_PATH ? guard.checkSocket(req, url) : { ok: false as const, reason: 'Not Found' };
      if (!verdict.ok) {
        const status = verdict.reason === 'Not Found' ? '404 Not Found' : '403 Forbidden';
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${verdict.reason}\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, opts.agent));
    });
    return ui;
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private headers(contentType: string, extra: http.OutgoingHttpHeaders = {}): http.OutgoingHttpHeaders {
    const ws = this.guard.hosts.map((h) => `ws://${h}`).join(' ');
    return {
      'Content-Type': contentType,
      'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${ws}; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'`,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      ...extra,
    };
  }

  private serve(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = (status: number, body: string, extra: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, this.headers('text/plain; charset=utf-8', { 'Cache-Control': 'no-store', ...extra }));
      res.end(`${body}\n`);
    };
    const verdict = this.guard.checkFile(req);
    if (!verdict.ok) return text(403, verdict.reason);
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return text(400, 'Bad Request: the path is not valid percent-encoding');
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root + path.sep) || rel.includes('\0')) return text(404, 'Not Found');
    let body: Buffer;
    try {
      body = fs.readFileSync(file);
    } catch {
      return text(404, 'Not Found');
    }
    const isIndex = path.basename(file) === 'index.html';
    const extra: http.OutgoingHttpHeaders = {
      // index.html names the current asset files, so it must never be cached; hashed assets may be.
      'Cache-Control': isIndex ? 'no-store' : 'private, max-age=3600',
      'Content-Length': body.length,
    };
    res.writeHead(200, this.headers(TYPES[path.extname(file)] ?? 'application/octet-stream', extra));
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
