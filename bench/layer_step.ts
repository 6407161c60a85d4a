// The TransformerLayer train step that bench/step_cpu.ts and bench/step_gc.ts measure: B8 T64 C256
// H4 MLP1024, pre-LN, fused qkv, attention dropout 0.1 in training mode, loss = mean of the output.
import { randn, Rng } from '../engine/index.js';
import { TransformerLayer } from '../nn/transformer.js';

/** Builds the layer and its input once; `step()` runs zeroGrad, forward, backward and reads one gradient. */
export function layerStep(): { layer: TransformerLayer; step: () => void } {
  const rng = new Rng(0);
  const layer = new TransformerLayer({
    dim: 256,
    heads: 4,
    mlpDim: 1024,
    norm: 'pre',
    eps: 1e-6,
    fusedQkv: true,
    attnDropout: 0.1,
    rng,
  });
  const x = randn([8, 64, 256], { rng });
  const step = (): void => {
    layer.zeroGrad();
    layer.forward(x).mean().backward();
    layer.parameters()[0]!.grad!.dataSync();
  };
  return { layer, step };
}

/** The value after `--steps` on the command line, or `fallback`. */
export function stepsArg(fallback: number): number {
  const at = process.argv.indexOf('--steps');
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
