/**
 * The one mapping between vlgrad's VLMo parameter names and the reference's state-dict keys
 * (UNILM:vlmo/vlmo/modules/vlmo_module.py and multiway_transformer.py). Modules are registered under
 * the reference's names (`transformer.blocks.3.mlp_vl.fc1.weight`, `text_embeddings.LayerNorm.bias`,
 * `relative_position_bias_table`, ...), so almost every key is already the reference's; the
 * exceptions come from nn's shared attention, which names the separate biases in camelCase.
 * Stage 1's `mask_token` and `mim_head.*` have no reference counterpart (VLMo loads BEiT instead)
 * and keep their names. HF's `text_embeddings.position_ids` buffer is not a parameter and is not
 * produced; `fromReference` drops it.
 */
import type { Tensor } from '../../engine/index.js';

/** (our suffix, reference suffix) for the names that differ. */
const RENAMES: readonly [string, string][] = [
  ['.attn.qBias', '.attn.q_bias'],
  ['.attn.vBias', '.attn.v_bias'],
];

/** Keys of the reference checkpoint that are buffers, not parameters. */
const REFERENCE_BUFFERS = ['text_embeddings.position_ids'];

function swapSuffix(name: string, from: string, to: string): string | null {
  return name.endsWith(from) ? name.slice(0, -from.length) + to : null;
}

/** The reference key of one of our parameter names. */
export function toReferenceKey(name: string): string {
  for (const [ours, ref] of RENAMES) {
    const k = swapSuffix(name, ours, ref);
    if (k) return k;
  }
  return name;
}

/** Our parameter name of a reference key. */
export function fromReferenceKey(key: string): string {
  for (const [ours, ref] of RENAMES) {
    const k = swapSuffix(key, ref, ours);
    if (k) return k;
  }
  return key;
}

/** A state dict with reference keys (e.g. to save for PyTorch). */
export function toReference(sd: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(sd).map(([k, v]) => [toReferenceKey(k), v]));
}

/** A reference state dict with our names, its buffers dropped (e.g. to load a PyTorch checkpoint). */
export function fromReference(sd: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(sd)
      .filter(([k]) => !REFERENCE_BUFFERS.includes(k))
      .map(([k, v]) => [fromReferenceKey(k), v]),
  );
}
