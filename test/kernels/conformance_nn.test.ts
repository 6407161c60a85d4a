/**
 * Backend conformance of every nn layer and loss: the PyTorch float64 cases of test/nn/parity.test.ts
 * (test/fixtures/nn/*.json) replayed in float32 on each device. The module is built on the CPU,
 * moved with `module.to(device)`, loads the case's weights, and its output and the gradients of
 * sum(out * cot) must match PyTorch to F32_TOL.torch, with no CPU fallback on gpu.js devices.
 */
import t from 'tap';
import { tensor, type Backend, type Tensor } from '../../engine/index.js';
import { fallbacks, resetFallbacks } from '../../kernels/gpujs/index.js';
import { keyPaddingMask, MultiHeadAttention } from '../../nn/attention.js';
import { Embedding, GELU, LayerNorm, Linear } from '../../nn/layers.js';
import { BCEWithLogitsLoss, CrossEntropyLoss, infoNce, KLDivLoss, MSELoss } from '../../nn/losses.js';
import type { Module } from '../../nn/module.js';
import { PatchConv2d, PatchEmbed } from '../../nn/patch_embed.js';
import { TransformerLayer, type TransformerLayerConfig } from '../../nn/transformer.js';
import { compareF32, F32_TOL, forEachBackend, gpuTwins } from '../helpers/backends.js';
import { loadFixture, MISSING_FIXTURES, type JsonTensor, type ParityCase } from '../nn/nn_helpers.js';

type Cfg = Record<string, any>;
type Inputs = Record<string, Tensor>;
type Runner = (cfg: Cfg, inp: Inputs) => { module?: Module; run: () => Tensor };

const mask = (inp: Inputs, value: number | null) =>
  inp.keep ? keyPaddingMask(inp.keep, value ?? -Infinity, 'float32') : undefined;
const mha: Runner = (cfg, inp) => {
  const m = new MultiHeadAttention({
    dim: cfg.dim,
    heads: cfg.heads,
    kvDim: cfg.kvDim,
    fusedQkv: cfg.fusedQkv,
    qkvBias: cfg.qkvBias,
  });
  return {
    module: m,
    run: () =>
      m.forward(inp.x, {
        context: inp.context,
        mask: mask(inp, cfg.maskValue),
        relPosBias: inp.relPosBias,
        causal: cfg.causal,
      }),
  };
};
const layer: Runner = (cfg, inp) => {
  const m = new TransformerLayer(cfg as TransformerLayerConfig);
  return { module: m, run: () => m.forward(inp.x, { mask: mask(inp, -10000), context: inp.context }) };
};
const unary =
  (make: (c: Cfg) => Module & { forward(x: Tensor): Tensor }, input = 'x'): Runner =>
  (c, i) => {
    const m = make(c);
    return { module: m, run: () => m.forward(i[input]) };
  };

const RUNNERS: Record<string, Record<string, Runner>> = {
  layers: {
    linear: unary((c) => new Linear(c.in, c.out, { bias: c.bias })),
    linear_nobias: unary((c) => new Linear(c.in, c.out, { bias: c.bias })),
    embedding_padding: unary((c) => new Embedding(c.num, c.dim, { paddingIdx: c.paddingIdx }), 'ids'),
    layernorm_vit: unary((c) => new LayerNorm(c.dim, c.eps)),
    layernorm_bert: unary((c) => new LayerNorm(c.dim, c.eps)),
    gelu_none: (c, i) => ({ run: () => new GELU(c.approximate).forward(i.x) }),
    gelu_tanh: (c, i) => ({ run: () => new GELU(c.approximate).forward(i.x) }),
    patch_conv2d: unary((c) => new PatchConv2d(c.inChans, c.dim, c.patch)),
    patch_embed: unary((c) => new PatchEmbed(c.patch, c.inChans, c.dim)),
  },
  attention: {
    mha_self_padding: mha,
    mha_cross_kvdim: mha,
    mha_causal_fused: mha,
    mha_vlmo_no_k_bias_relpos: mha,
    mha_relpos_batched: mha,
    mha_no_bias: mha,
  },
  transformer: {
    layer_pre_ln_vit: layer,
    layer_pre_ln_vlmo_layer_scale: layer,
    layer_post_ln_bert_cross: layer,
    layer_pre_ln_cross_tanh: layer,
  },
  losses: {
    ce_hard_ignore_smoothing: (c, i) => ({ run: () => new CrossEntropyLoss(c).forward(i.logits, i.target) }),
    ce_soft: (_c, i) => ({ run: () => new CrossEntropyLoss().forward(i.logits, i.probs) }),
    bce_with_logits: (_c, i) => ({ run: () => new BCEWithLogitsLoss().forward(i.logits, i.target) }),
    kl_div_batchmean: (c, i) => ({ run: () => new KLDivLoss({ reduction: c.reduction }).forward(i.input, i.target) }),
    mse: (_c, i) => ({ run: () => new MSELoss().forward(i.input, i.target) }),
    info_nce: (c, i) => ({ run: () => infoNce(i.image, i.text, c.temperature) }),
  },
};

/** A fixture tensor in float32 (ints stay int32) on `be`. */
function f32(j: JsonTensor, be?: Backend, requiresGrad = false): Tensor {
  const data = j.dtype === 'int32' ? Int32Array.from(j.data) : Float32Array.from(j.data);
  return tensor(data, { shape: j.shape, requiresGrad, ...(be ? { device: be } : {}) });
}

async function checkCase(c: ParityCase, runner: Runner, be: Backend): Promise<string[]> {
  const fails: string[] = [];
  const inputs: Inputs = {};
  for (const [k, j] of Object.entries(c.inputs)) inputs[k] = f32(j, be, `inputs.${k}` in c.grads);
  const { module, run } = runner(c.config, inputs);
  const params = new Map<string, Tensor>();
  if (module) {
    module.to(be).loadStateDict(Object.fromEntries(Object.entries(c.params).map(([k, j]) => [k, f32(j)])));
    for (const [k, p] of module.namedParameters()) params.set(k, p);
  }
  const out = run();
  const m = compareF32(await out.data(), c.output.data, F32_TOL.torch);
  if (m) fails.push(`output: ${m}`);
  out.mul(f32(c.cot, be)).sum().backward();
  for (const [key, j] of Object.entries(c.grads)) {
    const [kind, ...rest] = key.split('.');
    const x = kind === 'params' ? params.get(rest.join('.')) : inputs[rest.join('.')];
    if (!x?.grad) {
      fails.push(`${key}: no gradient`);
      continue;
    }
    const e = compareF32(await x.grad.data(), j.data, F32_TOL.torch);
    if (e) fails.push(`${key}: ${e}`);
  }
  return fails;
}

for (const [file, runners] of Object.entries(RUNNERS)) {
  const cases = loadFixture(file);
  t.test(`nn ${file} on every device`, { skip: cases ? false : MISSING_FIXTURES }, async (tt) => {
    if (!cases) return;
    tt.same(Object.keys(cases).sort(), Object.keys(runners).sort(), 'every fixture case has a runner');
    const exclude = await gpuTwins('the nn layer fixtures');
    await forEachBackend(
      tt,
      async (td, be) => {
        resetFallbacks();
        for (const [name, runner] of Object.entries(runners)) {
          if (!cases[name]) continue;
          let fails: string[];
          try {
            fails = await checkCase(cases[name], runner, be);
          } catch (e) {
            fails = [`threw ${(e as Error).stack ?? String(e)}`];
          }
          td.same(fails, [], name);
        }
        td.same(fallbacks(), {}, 'no op fell back to the CPU');
      },
      { exclude },
    );
  });
}
