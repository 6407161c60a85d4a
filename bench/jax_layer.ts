/**
 * The jax-js twin of the benchmarked TransformerLayer (pre-LN with eps 1e-6, fused qkv with bias,
 * 4 heads, exact GELU, loss = mean of the output), written as a jax-js user would: a pure loss
 * function of a parameter tree, `jit(valueAndGrad(loss))` as the train step, attention from
 * matmul and `nn.softmax`, and `nn.standardize` for the layer norms.
 * jax-js owns its arrays by reference count: each call consumes its arguments, so the step is
 * given `tree.ref(params)` and `x.ref` and disposes what it returns.
 *
 * `@jax-js/jax` is a bench-only dev dependency; `jaxLayerStep` throws where it does not load.
 * Its Node backend is Wasm, one thread (jax-js has no threads in Node).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type Any = any; // jax-js is a bench-only dependency, loaded at run time

/** A ready train step: `run()` does one jit-compiled value-and-grad and reads a gradient back. */
export interface JaxLayerStep {
  version: string;
  device: string;
  run(): void;
  /** The loss of the last `run`. */
  lastLoss(): number;
  dispose(): void;
}

/** Builds the jax-js train step for batch B, sequence T, width C, H heads, MLP width MLP. */
export async function jaxLayerStep(B: number, T: number, C: number, H: number, MLP: number): Promise<JaxLayerStep> {
  const require = createRequire(import.meta.url);
  // Its package.json is not an exported subpath: read it beside the resolved entry (dist/).
  const pkg = join(dirname(require.resolve('@jax-js/jax')), '..', 'package.json');
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  const jax: Any = await import('@jax-js/jax');
  const { numpy: np, nn, random, tree, jit, valueAndGrad } = jax;
  const started: string[] = await jax.init('wasm');
  if (!started.includes('wasm')) throw new Error(`jax-js: the wasm device did not start (got ${started})`);
  const device = jax.defaultDevice('wasm'); // arrays default to 'cpu' (plain JS) otherwise
  const D = C / H;

  const keys = random.split(random.key(0), 8);
  const normal = (i: number, shape: number[], scale = 0.02) => random.normal(keys.ref.slice(i), shape).mul(scale);
  const params = {
    g1: np.ones([C]),
    b1: np.zeros([C]),
    g2: np.ones([C]),
    b2: np.zeros([C]),
    wqkv: normal(0, [C, 3 * C]),
    bqkv: np.zeros([3 * C]),
    wo: normal(1, [C, C]),
    bo: np.zeros([C]),
    w1: normal(2, [C, MLP]),
    bb1: np.zeros([MLP]),
    w2: normal(3, [MLP, C]),
    bb2: np.zeros([C]),
  };
  const x = random.normal(keys.slice(4), [B, T, C]);

  const layerNorm = (h: Any, g: Any, b: Any) => nn.standardize(h, -1, { epsilon: 1e-6 }).mul(g).add(b);
  const loss = (p: Any, inp: Any) => {
    const h = layerNorm(inp.ref, p.g1, p.b1); // [B, T, C]
    const qkv = np.matmul(h, p.wqkv).add(p.bqkv).reshape([B, T, 3, H, D]);
    // [B, H, T, D] each. (nn.dotProductAttention would do, but its einsum parser needs Node >= 22.)
    const [q, k, v] = np.split(qkv, 3, 2).map((a: Any) => a.reshape([B, T, H, D]).transpose([0, 2, 1, 3]));
    const probs = nn.softmax(np.matmul(q.mul(D ** -0.5), k.transpose([0, 1, 3, 2])), -1); // [B, H, T, T]
    const att = np.matmul(probs, v).transpose([0, 2, 1, 3]).reshape([B, T, C]);
    const x1 = inp.add(np.matmul(att, p.wo).add(p.bo));
    const m = nn.gelu(np.matmul(layerNorm(x1.ref, p.g2, p.b2), p.w1).add(p.bb1), { approximate: false });
    return x1.add(np.matmul(m, p.w2).add(p.bb2)).mean();
  };
  const step = jit(valueAndGrad(loss));
  let last = NaN;
  return {
    version,
    device,
    run() {
      const [value, grads] = step(tree.ref(params), x.ref);
      grads.wqkv.ref.dataSync(); // the work is done once a gradient is on the host
      last = value.dataSync()[0];
      tree.dispose(grads);
    },
    lastLoss: () => last,
    dispose() {
      tree.dispose(params);
      x.dispose();
      step.dispose();
    },
  };
}
