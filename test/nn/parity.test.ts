/**
 * Parity with PyTorch 1.13 in float64: each layer loads the weights of the matching PyTorch
 * computation (test/fixtures/gen_torch_nn.py) through loadStateDict, and its output and the
 * gradients of sum(out * cot) w.r.t. parameters and inputs must agree to 1e-10.
 */
import t from 'tap';
import type { Tensor } from '../../engine/index.js';
import { keyPaddingMask, MultiHeadAttention } from '../../nn/attention.js';
import { Embedding, GELU, LayerNorm, Linear } from '../../nn/layers.js';
import { BCEWithLogitsLoss, CrossEntropyLoss, infoNce, KLDivLoss, MSELoss } from '../../nn/losses.js';
import type { Module } from '../../nn/module.js';
import { PatchConv2d, PatchEmbed } from '../../nn/patch_embed.js';
import { TransformerLayer, type TransformerLayerConfig } from '../../nn/transformer.js';
import { fromJson, loadFixture, maxRelDiff, MISSING_FIXTURES, type ParityCase, type TestT } from './nn_helpers.js';

const TOL = 1e-10;
type Cfg = Record<string, any>;
type Inputs = Record<string, Tensor>;
/** Builds the layer for a case (or none, for plain functions) and the forward to run. */
type Runner = (cfg: Cfg, inp: Inputs) => { module?: Module; run: () => Tensor };

const mask = (inp: Inputs, value: number | null) =>
  inp.keep ? keyPaddingMask(inp.keep, value ?? -Infinity, 'float64') : undefined;

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

const RUNNERS: Record<string, Record<string, Runner>> = {
  layers: {
    linear: (c, i) => {
      const m = new Linear(c.in, c.out, { bias: c.bias });
      return { module: m, run: () => m.forward(i.x) };
    },
    linear_nobias: (c, i) => {
      const m = new Linear(c.in, c.out, { bias: c.bias });
      return { module: m, run: () => m.forward(i.x) };
    },
    embedding_padding: (c, i) => {
      const m = new Embedding(c.num, c.dim, { paddingIdx: c.paddingIdx });
      return { module: m, run: () => m.forward(i.ids) };
    },
    layernorm_vit: (c, i) => {
      const m = new LayerNorm(c.dim, c.eps);
      return { module: m, run: () => m.forward(i.x) };
    },
    layernorm_bert: (c, i) => {
      const m = new LayerNorm(c.dim, c.eps);
      return { module: m, run: () => m.forward(i.x) };
    },
    gelu_none: (c, i) => ({ run: () => new GELU(c.approximate).forward(i.x) }),
    gelu_tanh: (c, i) => ({ run: () => new GELU(c.approximate).forward(i.x) }),
    patch_conv2d: (c, i) => {
      const m = new PatchConv2d(c.inChans, c.dim, c.patch);
      return { module: m, run: () => m.forward(i.x) };
    },
    patch_embed: (c, i) => {
      const m = new PatchEmbed(c.patch, c.inChans, c.dim);
      return { module: m, run: () => m.forward(i.x) };
    },
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

function checkCase(tt: TestT, c: ParityCase, runner: Runner): void {
  const inputs: Inputs = {};
  for (const [k, j] of Object.entries(c.inputs)) inputs[k] = fromJson(j, `inputs.${k}` in c.grads);
  const { module, run } = runner(c.config, inputs);
  const params = new Map<string, Tensor>();
  if (module) {
    module.to('float64').loadStateDict(Object.fromEntries(Object.entries(c.params).map(([k, j]) => [k, fromJson(j)])));
    for (const [k, p] of module.namedParameters()) params.set(k, p);
  }
  const out = run();
  tt.ok(
    maxRelDiff(out, fromJson(c.output)) < TOL,
    `output matches (max rel diff ${maxRelDiff(out, fromJson(c.output))})`,
  );
  out.mul(fromJson(c.cot)).sum().backward();
  for (const [key, j] of Object.entries(c.grads)) {
    const [kind, ...rest] = key.split('.');
    const name = rest.join('.');
    const x = kind === 'params' ? params.get(name) : inputs[name];
    const g = x?.grad;
    if (!g) {
      tt.fail(`${key}: no gradient`);
      continue;
    }
    const d = maxRelDiff(g, fromJson(j));
    tt.ok(d < TOL, `${key} gradient matches (max rel diff ${d})`);
  }
}

for (const [file, runners] of Object.entries(RUNNERS)) {
  const cases = loadFixture(file);
  t.test(`parity with PyTorch: ${file}`, { skip: cases ? false : MISSING_FIXTURES }, (tt) => {
    if (!cases) return tt.end();
    tt.same(Object.keys(cases).sort(), Object.keys(runners).sort(), 'every fixture case has a runner');
    for (const [name, runner] of Object.entries(runners)) {
      if (!cases[name]) continue;
      tt.test(name, (ct) => {
        checkCase(ct, cases[name], runner);
        ct.end();
      });
    }
    tt.end();
  });
}
