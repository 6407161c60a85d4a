/**
 * The reference checkpoint layout (ALBEF:models/model_pretrain.py state_dict) computed from a config
 * alone: every key, its shape, whether it is trained, and which keys are tied. It checks a
 * checkpoint before loading and is tested key-for-key against the module tree built by `Albef`
 * (parameter counts come from that tree: count.ts).
 */
import type { AlbefConfig, BertConfig, VitConfig } from './config.js';

/** One state-dict entry. `tiedTo` names the entry holding the same tensor (counted once). */
export interface LayoutEntry {
  name: string;
  shape: number[];
  kind: 'online' | 'momentum' | 'buffer';
  tiedTo?: string;
}

const linear = (p: string, out: number, inp: number): [string, number[]][] => [
  [`${p}.weight`, [out, inp]],
  [`${p}.bias`, [out]],
];
const norm = (p: string, d: number): [string, number[]][] => [
  [`${p}.weight`, [d]],
  [`${p}.bias`, [d]],
];

function vit(v: VitConfig): [string, number[]][] {
  const D = v.dim,
    N = (v.imageSize / v.patchSize) ** 2;
  const out: [string, number[]][] = [
    ['cls_token', [1, 1, D]],
    ['pos_embed', [1, 1 + N, D]],
    ['patch_embed.proj.weight', [D, 3, v.patchSize, v.patchSize]],
    ['patch_embed.proj.bias', [D]],
  ];
  for (let i = 0; i < v.depth; i++) {
    const b = `blocks.${i}`;
    out.push(
      ...norm(`${b}.norm1`, D),
      ...linear(`${b}.attn.qkv`, 3 * D, D),
      ...linear(`${b}.attn.proj`, D, D),
      ...norm(`${b}.norm2`, D),
      ...linear(`${b}.mlp.fc1`, v.mlpDim, D),
      ...linear(`${b}.mlp.fc2`, D, v.mlpDim),
    );
  }
  return [...out, ...norm('norm', D)];
}

function bertAttention(p: string, C: number, kv: number): [string, number[]][] {
  return [
    ...linear(`${p}.self.query`, C, C),
    ...linear(`${p}.self.key`, C, kv),
    ...linear(`${p}.self.value`, C, kv),
    ...linear(`${p}.output.dense`, C, C),
    ...norm(`${p}.output.LayerNorm`, C),
  ];
}

function bert(t: BertConfig): [string, number[]][] {
  const C = t.hidden,
    e = 'bert.embeddings';
  const out: [string, number[]][] = [
    [`${e}.word_embeddings.weight`, [t.vocabSize, C]],
    [`${e}.position_embeddings.weight`, [t.maxPositions, C]],
    [`${e}.token_type_embeddings.weight`, [t.typeVocabSize, C]],
    ...norm(`${e}.LayerNorm`, C),
  ];
  for (let i = 0; i < t.layers; i++) {
    const l = `bert.encoder.layer.${i}`;
    out.push(...bertAttention(`${l}.attention`, C, C));
    if (i >= t.fusionLayer) out.push(...bertAttention(`${l}.crossattention`, C, t.encoderWidth));
    out.push(
      ...linear(`${l}.intermediate.dense`, t.intermediate, C),
      ...linear(`${l}.output.dense`, C, t.intermediate),
      ...norm(`${l}.output.LayerNorm`, C),
    );
  }
  return [
    ...out,
    ['cls.predictions.bias', [t.vocabSize]],
    ...linear('cls.predictions.transform.dense', C, C),
    ...norm('cls.predictions.transform.LayerNorm', C),
    ['cls.predictions.decoder.weight', [t.vocabSize, C]],
    ['cls.predictions.decoder.bias', [t.vocabSize]],
  ];
}

const TIES: Record<string, string> = {
  'cls.predictions.decoder.weight': 'bert.embeddings.word_embeddings.weight',
  'cls.predictions.decoder.bias': 'cls.predictions.bias',
};

/** Every key of the reference ALBEF pre-training state dict for `c`, in no particular order. */
export function referenceLayout(c: AlbefConfig): LayoutEntry[] {
  const E = c.embedDim,
    Cv = c.vision.dim,
    C = c.text.hidden;
  const parts: [string, [string, number[]][]][] = [
    ['visual_encoder', vit(c.vision)],
    ['text_encoder', bert(c.text)],
    ['vision_proj', linear('', E, Cv)],
    ['text_proj', linear('', E, C)],
    ['itm_head', linear('', 2, C)],
  ];
  const out: LayoutEntry[] = [{ name: 'temp', shape: [], kind: 'online' }];
  for (const suffix of ['', '_m']) {
    for (const [module, entries] of parts) {
      if (suffix && module === 'itm_head') continue; // not copied: itm_head, temp
      for (const [key, shape] of entries) {
        const name = `${module}${suffix}${key.startsWith('.') ? key : `.${key}`}`;
        const tie = TIES[key];
        out.push({
          name,
          shape,
          kind: suffix ? 'momentum' : 'online',
          ...(tie ? { tiedTo: `${module}${suffix}.${tie}` } : {}),
        });
      }
    }
  }
  out.push(
    { name: 'image_queue', shape: [E, c.queueSize], kind: 'buffer' },
    { name: 'text_queue', shape: [E, c.queueSize], kind: 'buffer' },
    { name: 'queue_ptr', shape: [1], kind: 'buffer' },
  );
  return out;
}

/** Keys a PyTorch ALBEF checkpoint holds that this model does not keep (HF's position_ids buffer, retrieval's idx_queue). */
export const IGNORED_REFERENCE_KEYS = /(^|\.)(position_ids|idx_queue)$/;
