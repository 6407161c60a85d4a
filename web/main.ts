/**
 * The demo page: drives the engine Worker (worker.ts) and draws what it reports: the device, live
 * loss curves, step and ETA, sample scenes, retrieval hits and grounding maps. No UI framework:
 * plain DOM, SVG and canvas. `window.demo` exposes the same actions and the recorded state for the
 * browser test (test/browser/page.test.ts).
 */
import { formatDuration } from '../models/common/progress.js';
import type { FromWorker, Picture, ToWorker, TrainSpec } from './protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);

/** What the page has seen, for the browser test and the chart. */
const state = {
  ready: null as null | Extract<FromWorker, { type: 'ready' }>,
  steps: [] as Extract<FromWorker, { type: 'step' }>[],
  done: false,
  loaded: null as null | string,
  results: null as null | Extract<FromWorker, { type: 'results' }>,
  grounding: null as null | { itmProb: number; bytes: number },
  errors: [] as string[],
  checkpoint: null as null | { model: Uint8Array; runJson: string },
};
const waiters: ((m: FromWorker) => void)[] = [];

function draw(p: Picture, scale = 1): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = p.size;
  c.height = p.size;
  const ctx = c.getContext('2d')!,
    img = ctx.createImageData(p.size, p.size);
  for (let i = 0; i < p.size * p.size; i++)
    img.data.set([p.rgb[3 * i]!, p.rgb[3 * i + 1]!, p.rgb[3 * i + 2]!, 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  c.style.width = c.style.height = `${128 * scale}px`;
  return c;
}

function figure(p: Picture, label: string, onClick?: () => void): HTMLElement {
  const f = document.createElement('figure'),
    cap = document.createElement('figcaption'),
    c = draw(p);
  cap.textContent = label;
  if (onClick) c.addEventListener('click', onClick);
  f.append(c, cap);
  return f;
}

const COLOURS: Record<string, string> = { total: '#222', itc: '#1f77b4', itm: '#d62728', mlm: '#2ca02c' };

/** Loss curves as SVG polylines, y from 0 to the largest loss seen. */
function chart(): void {
  const svg = $('chart'),
    W = 1000,
    H = 240,
    pad = 30,
    steps = state.steps,
    total = state.ready?.steps ?? 1;
  const top = Math.max(1e-9, ...steps.flatMap((s) => Object.values(s.losses).filter(Number.isFinite)));
  const x = (i: number): number => pad + ((W - 2 * pad) * i) / Math.max(1, total),
    y = (v: number): number => H - pad - ((H - 2 * pad) * v) / top;
  let out = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#999"/>`;
  out += `<text x="${pad + 4}" y="${pad - 8}">${top.toFixed(2)}</text><text x="${W - pad - 60}" y="${H - 8}">step ${total}</text>`;
  Object.entries(COLOURS).forEach(([k, colour], j) => {
    const pts = steps.map((s) => `${x(s.step).toFixed(1)},${y(s.losses[k] ?? 0).toFixed(1)}`).join(' ');
    out += `<polyline fill="none" stroke="${colour}" stroke-width="${k === 'total' ? 2 : 1.2}" points="${pts}"/>`;
    out += `<text x="${W - pad - 230 + 55 * j}" y="${pad - 8}" style="fill:${colour}">${k}</text>`;
  });
  svg.innerHTML = out;
}

function onStep(m: Extract<FromWorker, { type: 'step' }>): void {
  state.steps.push(m);
  const per = m.seconds / state.steps.length,
    eta = per * (m.total - m.step);
  const l = Object.entries(m.losses)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(', ');
  $('status').textContent =
    `step ${m.step}/${m.total} | ${(1000 * per).toFixed(0)} ms/step | elapsed ${formatDuration(m.seconds)}, ETA ${formatDuration(eta)} | ${l}`;
  chart();
}

function download(bytes: Uint8Array, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function onResults(m: Extract<FromWorker, { type: 'results' }>): void {
  state.results = m;
  const box = $('results');
  box.replaceChildren(
    ...m.hits.map((h, r) =>
      figure(h, `#${r + 1} score ${h.score.toFixed(3)}: ${h.caption}`, () =>
        send({ type: 'ground', scene: h.scene, caption: m.caption }),
      ),
    ),
  );
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'ready':
      state.ready = m;
      $('device').textContent =
        `${m.device} (${m.description})${m.crossOriginIsolated ? '' : ', not cross-origin isolated'}`;
      break;
    case 'step':
      onStep(m);
      break;
    case 'paused':
      $('pause').textContent = 'Resume';
      break;
    case 'done':
      state.done = true;
      ($('pause') as HTMLButtonElement).disabled = true;
      $('status').textContent += ' | done';
      break;
    case 'checkpoint':
      state.checkpoint = { model: m.model, runJson: m.runJson };
      break;
    case 'samples':
      $('samples').replaceChildren(...m.pictures.map((p) => figure(p, p.caption)));
      break;
    case 'loaded':
      state.loaded = m.config;
      $('loaded').textContent = `${m.config} loaded; gallery: ${m.gallery} test scenes`;
      ($('query') as HTMLButtonElement).disabled = false;
      break;
    case 'results':
      onResults(m);
      break;
    case 'grounding': {
      state.grounding = { itmProb: m.itmProb, bytes: m.png.length };
      const img = document.createElement('img');
      img.src = URL.createObjectURL(new Blob([m.png as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
      img.alt = `grounding map, ITM p(match) = ${m.itmProb.toFixed(2)}`;
      $('grounding').replaceChildren(img);
      break;
    }
    case 'error':
      state.errors.push(m.message);
      $('error').textContent = m.message;
      break;
  }
  for (const w of waiters.splice(0)) w(m);
};

/** Resolves with the next message of `type` (or rejects on an error message). */
function next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const wait = (m: FromWorker): void => {
      if (m.type === type) resolve(m as Extract<FromWorker, { type: T }>);
      else if (m.type === 'error') reject(new Error(m.message));
      else waiters.push(wait);
    };
    waiters.push(wait);
  });
}

/** The page's actions, also driven by the browser test. */
const demo = {
  state,
  async start(spec: Partial<TrainSpec> = {}): Promise<Extract<FromWorker, { type: 'ready' }>> {
    const full: TrainSpec = {
      device: ($('want') as HTMLSelectElement).value as TrainSpec['device'],
      config: 'albef-tiny',
      steps: Number(($('steps') as HTMLInputElement).value),
      batchSize: Number(($('batch') as HTMLInputElement).value),
      trainSize: 2048,
      seed: 0,
      ...spec,
    };
    state.steps.length = 0;
    state.done = false;
    ($('start') as HTMLButtonElement).disabled = true;
    $('status').textContent = 'building the model and data...';
    send({ type: 'init', spec: full });
    const ready = await next('ready');
    for (const id of ['pause', 'download', 'usetab']) ($(id) as HTMLButtonElement).disabled = false;
    send({ type: 'run' });
    return ready;
  },
  pause(): void {
    send({ type: 'pause' });
  },
  resume(): void {
    $('pause').textContent = 'Pause';
    send({ type: 'run' });
  },
  async untilStep(n: number): Promise<void> {
    while (!(state.steps.length >= n || state.done)) await next('step');
  },
  async checkpoint(): Promise<{ model: Uint8Array; runJson: string }> {
    send({ type: 'checkpoint' });
    const m = await next('checkpoint');
    return { model: m.model, runJson: m.runJson };
  },
  async load(model: ArrayBuffer, runJson: string): Promise<string> {
    send({ type: 'load', model, runJson }, [model]);
    return (await next('loaded')).config;
  },
  async loadUrl(base: string): Promise<string> {
    const [model, runJson] = await Promise.all([
      fetch(`${base}/model.safetensors`).then((r) => r.arrayBuffer()),
      fetch(`${base}/run.json`).then((r) => r.text()),
    ]);
    return demo.load(model, runJson);
  },
  async query(caption: string, k = 8): Promise<Extract<FromWorker, { type: 'results' }>> {
    ($('caption') as HTMLInputElement).value = caption;
    send({ type: 'query', caption, k });
    return next('results');
  },
  async ground(scene: number, caption: string): Promise<{ itmProb: number }> {
    send({ type: 'ground', scene, caption });
    return next('grounding');
  },
};
(window as unknown as { demo: typeof demo }).demo = demo;

$('start').addEventListener(
  'click',
  () =>
    void demo.start().catch((e: Error) => {
      $('error').textContent = e.message;
    }),
);
$('pause').addEventListener('click', () => ($('pause').textContent === 'Pause' ? demo.pause() : demo.resume()));
$('download').addEventListener(
  'click',
  () =>
    void demo.checkpoint().then((c) => {
      download(c.model, 'model.safetensors');
      download(new TextEncoder().encode(c.runJson), 'run.json');
    }),
);
$('usetab').addEventListener(
  'click',
  () => void demo.checkpoint().then((c) => demo.load(c.model.slice().buffer, c.runJson)),
);
$('load').addEventListener('click', () => {
  const model = ($('ckpt') as HTMLInputElement).files?.[0],
    run = ($('runjson') as HTMLInputElement).files?.[0];
  if (!model || !run) {
    $('error').textContent = 'choose both model.safetensors and run.json';
    return;
  }
  void Promise.all([model.arrayBuffer(), run.text()]).then(([m, r]) => demo.load(m, r));
});
$('query').addEventListener('click', () => void demo.query(($('caption') as HTMLInputElement).value));

send({ type: 'samples', count: 8 });
if (params.get('run')) void demo.loadUrl(params.get('run')!);
