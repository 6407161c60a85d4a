// The cold start of kernels/wasm matmul: GFLOP/s of calls 1..N of a FRESH process (float32,
// square, 1 and 2 threads), as medians per call index over many fresh processes, and the
// steady state of the same processes afterwards. Optionally A/B against other source trees,
// run alternately so that background load hits every tree alike.
//
//   npx tsx bench/matmul_cold.ts                              # this tree, 8 processes per cell
//   npx tsx bench/matmul_cold.ts --trees .,/tmp/cold-base --procs 12
//   npx tsx bench/matmul_cold.ts --trees .,torch --modes lazy,start,engine
//   options: --size 512 --calls 20 --threads 1,2 --modes lazy,start --steady-ms 1500
//
// Modes: `lazy` calls the kernels' matmul right after importing kernels/wasm/index.ts
// (setThreads only), so call 1 pays for everything (module compilation, worker start, page
// faults); `start` first awaits `startThreads(n)` (the documented way to start the workers ahead
// of use) and reports how long that took. Both write one fresh Float32Array `out`, whose pages
// the OS maps on the first call's copy-out. `engine` is what a user of the Tensor API sees:
// `randn` operands, `await startThreads(n)`, then `noGrad(() => matmul(a, b))` per call, each
// result disposed (float32 tensors live in the wasm heap, so nothing is copied in or out).
// A tree is any checkout (`git worktree add /tmp/cold-base main`). The tree name `torch` runs
// the calls in fresh /usr/bin/python3 processes instead (`torch.matmul(a, b, out=c)` into one
// fresh, untouched `torch.empty` result; torch.set_num_threads; `lazy` mode only), for same-run
// context: PyTorch's first call pays for the OS's first-touch page faults too (letting `a @ b`
// allocate each call would pay them on many later calls as well). The load average is printed
// with every result: on a shared machine compare trees, not absolute numbers.
import { spawnSync } from 'node:child_process';
import { boxSpeedLine } from './box_speed.js';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ChildResult {
  importMs: number;
  initMs: number;
  callMs: number[];
  steadyMs: number;
  load: number;
}

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

// The PyTorch child: argv = threads, size, calls, steady ms; prints a ChildResult.
const TORCH_CHILD = `
import json, os, sys, time
t0 = time.perf_counter()
import torch
import_ms = (time.perf_counter() - t0) * 1e3
threads, s, calls, steady_ms = (int(x) for x in sys.argv[1:5])
torch.set_num_threads(threads)
a, b, c = torch.rand(s, s) - 0.5, torch.rand(s, s) - 0.5, torch.empty(s, s)
call_ms = []
for _ in range(calls):
    t = time.perf_counter(); torch.matmul(a, b, out=c); call_ms.append((time.perf_counter() - t) * 1e3)
steady, end = [], time.perf_counter() + steady_ms / 1e3
while len(steady) < 5 or time.perf_counter() < end:
    t = time.perf_counter(); torch.matmul(a, b, out=c); steady.append((time.perf_counter() - t) * 1e3)
steady.sort()
print(json.dumps({"importMs": import_ms, "initMs": 0, "callMs": call_ms, "steadyMs": steady[len(steady) // 2], "load": os.getloadavg()[0]}))
`;

if (args[0] === '--child') await child();
else await parent();

/** One fresh process: import, (start threads), time calls 1..N, then the steady state. */
async function child(): Promise<void> {
  const [, root, threadArg, mode, sizeArg, callsArg, steadyArg] = args;
  const s = Number(sizeArg),
    threads = Number(threadArg);
  const load = loadavg()[0]!;
  const t0 = performance.now();
  const k = (await import(resolve(root!, 'kernels/wasm/index.ts'))) as typeof import('../kernels/wasm/index.js');
  const e =
    mode === 'engine'
      ? ((await import(resolve(root!, 'engine/index.ts'))) as typeof import('../engine/index.js'))
      : undefined;
  const importMs = performance.now() - t0;
  let product: () => void;
  let t1: number;
  if (e) {
    const rng = new e.Rng(0);
    const [a, b] = [e.randn([s, s], { rng }), e.randn([s, s], { rng })];
    t1 = performance.now();
    await k.startThreads(threads);
    product = () => e.noGrad(() => e.matmul(a, b)).dispose();
  } else {
    const a = Float32Array.from({ length: s * s }, () => Math.random() - 0.5);
    const b = Float32Array.from({ length: s * s }, () => Math.random() - 0.5);
    const c = new Float32Array(s * s); // fresh: its pages are mapped on the first call
    t1 = performance.now();
    if (mode === 'start') await k.startThreads(threads);
    else k.setThreads(threads);
    product = () => k.matmul(a, b, c, { m: s, k: s, n: s });
  }
  const initMs = performance.now() - t1;
  const callMs: number[] = [];
  for (let i = 0; i < Number(callsArg); i++) {
    const t = performance.now();
    product();
    callMs.push(performance.now() - t);
  }
  const steady: number[] = [];
  const end = performance.now() + Number(steadyArg);
  while (steady.length < 5 || performance.now() < end) {
    const t = performance.now();
    product();
    steady.push(performance.now() - t);
  }
  const result: ChildResult = { importMs, initMs, callMs, steadyMs: median(steady), load };
  console.log(JSON.stringify(result));
}

async function parent(): Promise<void> {
  const trees = opt('trees', '.').split(',');
  const threads = opt('threads', '1,2').split(',').map(Number);
  const modes = opt('modes', 'lazy,start').split(',');
  const [procs, size, calls, steadyMs] = [
    opt('procs', '8'),
    opt('size', '512'),
    opt('calls', '20'),
    opt('steady-ms', '1500'),
  ];
  const script = fileURLToPath(import.meta.url);
  const repo = resolve(script, '../..');
  const cells = new Map<string, ChildResult[]>();
  const key = (tree: string, t: number, mode: string): string => `${tree}|${t}|${mode}`;
  const la = (): string =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(`load average before: ${la()}; ${procs} fresh processes per cell, ${size}^3, calls 1..${calls}`);
  console.log(`before: ${await boxSpeedLine()}\n`);
  if (trees.includes('torch')) {
    console.log(`torch: /usr/bin/python3, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'Haswell'}\n`);
  }
  for (let round = 0; round < Number(procs); round++) {
    for (const t of threads) {
      for (const mode of modes) {
        for (const tree of trees) {
          if (tree === 'torch' && mode !== 'lazy') continue;
          const env = { ...process.env, OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? 'Haswell' };
          const r =
            tree === 'torch'
              ? spawnSync('/usr/bin/python3', ['-c', TORCH_CHILD, String(t), size, calls, steadyMs], {
                  encoding: 'utf8',
                  timeout: 120_000,
                  env,
                })
              : spawnSync(
                  process.execPath,
                  ['--import', 'tsx', script, '--child', resolve(tree), String(t), mode, size, calls, steadyMs],
                  { cwd: repo, encoding: 'utf8', timeout: 120_000 },
                );
          if (r.status !== 0) throw new Error(`child ${tree} ${t} ${mode} failed (${r.status}): ${r.stderr}`);
          const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
          cells.set(key(tree, t, mode), [...(cells.get(key(tree, t, mode)) ?? []), out]);
        }
      }
    }
  }
  console.log(`load average after: ${la()}`);
  console.log(`after: ${await boxSpeedLine()}\n`);
  const gf = (ms: number): number => (2 * Number(size) ** 3) / ms / 1e6;
  const f1 = (x: number): string => x.toFixed(1);
  console.log(
    'GFLOP/s, medians over the processes; ms = milliseconds (import: the kernels module; init: startThreads)\n',
  );
  console.log(
    '| tree | threads | mode | load (1 min) | import ms | init ms | call 1 | call 2 | call 3 | calls 4-20 | calls 1-20 | steady |',
  );
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const perCall: string[] = [];
  for (const t of threads) {
    for (const mode of modes) {
      for (const tree of trees) {
        const rs = cells.get(key(tree, t, mode));
        if (!rs) continue; // torch has no `start` mode
        const at = (i: number): number => median(rs.map((r) => gf(r.callMs[i]!)));
        // Work over time: the rate at which a run of calls got done, per process, then the median.
        const span = (from: number, to: number): number =>
          median(
            rs.map(
              (r) => ((to - from) * 2 * Number(size) ** 3) / r.callMs.slice(from, to).reduce((x, y) => x + y) / 1e6,
            ),
          );
        const n = rs[0]!.callMs.length;
        const loads = rs.map((r) => r.load);
        console.log(
          `| ${tree} | ${t} | ${mode} | ${f1(median(loads))} (${f1(Math.min(...loads))}-${f1(Math.max(...loads))}) | ` +
            `${f1(median(rs.map((r) => r.importMs)))} | ${f1(median(rs.map((r) => r.initMs)))} | ` +
            `${f1(at(0))} | ${f1(at(1))} | ${f1(at(2))} | ${n > 3 ? f1(span(3, n)) : '-'} | ${f1(span(0, n))} | ` +
            `${f1(median(rs.map((r) => gf(r.steadyMs))))} |`,
        );
        perCall.push(`${tree} ${t}t ${mode}: ${Array.from({ length: n }, (_, i) => at(i).toFixed(0)).join(' ')}`);
      }
    }
  }
  console.log(`\nper call index (GFLOP/s, medians):\n${perCall.join('\n')}`);
}
