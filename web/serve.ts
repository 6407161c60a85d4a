/**
 * `npm run demo`: builds the page (build.ts) and serves web/ on http://127.0.0.1:PORT with the
 * headers that make it cross-origin isolated (COOP same-origin, COEP require-corp), which the
 * WASM matmul's worker threads need (SharedArrayBuffer). `--run DIR` also serves a run directory
 * (model.safetensors and run.json) at /run/, loaded with http://127.0.0.1:PORT/?run=/run.
 *
 *   npm run demo -- [--port 8080] [--run runs/albef-tiny/checkpoints/step-000900 --run-json runs/albef-tiny/run.json]
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemo } from './build.js';

const WEB = fileURLToPath(new URL('.', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

/** Where `/run/model.safetensors` and `/run/run.json` come from. */
export interface RunFiles {
  model: string;
  runJson: string;
}

/** Serves the built page; resolves once listening. `port` 0 picks a free port. */
export async function startDemoServer(
  opts: { port?: number; run?: RunFiles } = {},
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file: string | undefined;
    if (path === '/run/model.safetensors') file = opts.run?.model;
    else if (path === '/run/run.json') file = opts.run?.runJson;
    else {
      const p = resolve(WEB, normalize(`.${path === '/' ? '/index.html' : path}`));
      if (p.startsWith(WEB.endsWith(sep) ? WEB : WEB + sep)) file = p; // nothing outside web/
    }
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    void (
      file
        ? stat(file).then(
            (s) => s.isFile(),
            () => false,
          )
        : Promise.resolve(false)
    ).then((ok) => {
      if (!ok) {
        res.writeHead(404, headers).end(`not found: ${path}`);
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file!)] ?? 'application/octet-stream' });
      createReadStream(file!).pipe(res);
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, '127.0.0.1', ok);
  });
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/`, server };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildDemo();
  const dir = flag('run');
  const run = dir
    ? { model: join(dir, 'model.safetensors'), runJson: flag('run-json') ?? join(dir, 'run.json') }
    : undefined;
  const { url } = await startDemoServer({ port: Number(flag('port') ?? 8080), run });
  console.log(`vlgrad demo on ${url}${run ? ` (checkpoint: ${url}?run=/run)` : ''}  (Ctrl-C stops it)`);
}
