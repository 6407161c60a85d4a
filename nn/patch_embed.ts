/**
 * Image to patch tokens (ViT). A Conv2d whose kernel equals its stride never overlaps patches, so
 * it is exactly a Linear over each flattened patch: we compute it as reshape/permute + one matmul,
 * while storing the weight as the conv's [C, Cin, p, p] so checkpoints map 1:1
 * (`patch_embed.proj.weight`).
 */
import { defaultRng, matmul, zeros, type Rng, type Tensor } from '../engine/index.js';
import { linearDefault_ } from './init.js';
import { Module } from './module.js';

/**
 * Conv2d(Cin -> C, kernel = stride = p, no padding), PyTorch's default init. `forward` keeps the conv
 * layout; `tokens` returns the patches as a sequence in row-major patch order (timm's
 * flatten(2).transpose(1, 2)).
 * Shapes: x [B, Cin, Hi, Wi] (Hi, Wi multiples of p) -> [B, C, Hi/p, Wi/p] or tokens [B, N, C];
 * weight [C, Cin, p, p], bias [C].
 */
export class PatchConv2d extends Module {
  constructor(
    readonly inChans: number,
    readonly outChans: number,
    readonly patch: number,
    opts: { bias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.weight = zeros([outChans, inChans, patch, patch]);
    this.bias = (opts.bias ?? true) ? zeros([outChans]) : null;
    linearDefault_(this.weight, this.bias, opts.rng ?? defaultRng());
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  set weight(t: Tensor) {
    this.registerParameter('weight', t);
  }
  get bias(): Tensor | null {
    return this.paramOrNull('bias');
  }
  set bias(t: Tensor | null) {
    this.registerParameter('bias', t);
  }

  /** Patch tokens [B, gh·gw, C]. */
  tokens(x: Tensor): Tensor {
    const [B, Cin, Hi, Wi] = x.shape,
      p = this.patch;
    if (x.ndim !== 4 || Cin !== this.inChans || Hi % p !== 0 || Wi % p !== 0) {
      throw new RangeError(
        `PatchConv2d: expected [B, ${this.inChans}, H, W] with H, W multiples of ${p}, got [${x.shape}]`,
      );
    }
    const gh = Hi / p,
      gw = Wi / p;
    const patches = x
      .reshape([B, Cin, gh, p, gw, p])
      .permute(0, 2, 4, 1, 3, 5) // [B, gh, gw, Cin, p, p]
      .reshape([B, gh * gw, Cin * p * p]); // [B, N, Cin·p·p], conv weight order
    const w = this.weight.reshape([this.outChans, Cin * p * p]);
    const y = matmul(patches, w, { transB: true }); // [B, N, Cin·p·p] @ [C, Cin·p·p]ᵀ -> [B, N, C]
    return this.bias ? y.add(this.bias) : y;
  }

  forward(x: Tensor): Tensor {
    const [B, , Hi, Wi] = x.shape,
      p = this.patch;
    return this.tokens(x)
      .permute(0, 2, 1)
      .reshape([B, this.outChans, Hi / p, Wi / p]); // [B, C, gh, gw]
  }
}

/**
 * ViT patch embedding: `proj` (a PatchConv2d) applied to the image, returned as tokens.
 * Shapes: [B, Cin, Hi, Wi] -> [B, N, C] with N = (Hi/p)·(Wi/p).
 */
export class PatchEmbed extends Module {
  readonly proj: PatchConv2d;
  constructor(
    readonly patch: number,
    readonly inChans: number,
    readonly dim: number,
    opts: { rng?: Rng } = {},
  ) {
    super();
    this.proj = this.registerModule('proj', new PatchConv2d(inChans, dim, patch, opts));
  }
  /** Number of patches for an image of the given size. */
  numPatches(height: number, width = height): number {
    return (height / this.patch) * (width / this.patch);
  }
  forward(x: Tensor): Tensor {
    return this.proj.tokens(x);
  }
}
