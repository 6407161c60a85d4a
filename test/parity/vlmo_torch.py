"""PyTorch oracle for test/models/vlmo_parity.test.ts.

A micro VLMo in plain torch (no transformers/timm), following the module structure, names and
index construction of the reference code (UNILM:vlmo/vlmo/modules/multiway_transformer.py,
vlmo_module.py, heads.py, objectives.py), in float64 with drop path 0. It loads the state dict and
batch vlgrad exported (reference keys), then runs the three stage objectives separately, each with
its own backward:
  vl    ITC (both branches) + ITM on the given hard negatives + 0.25 * MLM on the given masks
  text  text-only MLM (infer_text_mlm)
  mim   stage 1, vlgrad's BEiT substitute: masked patches -> mask token, LN + Linear on their codes
and writes the losses, the ITM logits, every gradient and the relative-position index matrices.

Usage: vlmo_torch.py <config.json> <state.safetensors> <batch.safetensors> <out.safetensors>
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

torch.set_default_dtype(torch.float64)

# --- safetensors with the standard library (struct + json) -----------------------------------
DTYPES = {'F64': torch.float64, 'F32': torch.float32, 'I32': torch.int32, 'I64': torch.int64}


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        begin, end = e['data_offsets']
        raw = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=DTYPES[e['dtype']]) if end > begin else torch.zeros(0, dtype=DTYPES[e['dtype']])
        out[name] = t.reshape(e['shape']).clone()
    return out


def save_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        code = {torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32'}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(chunks))


# --- Multiway transformer (multiway_transformer.py) ----------------------------------------------
class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.num_heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None, relative_position_bias=None):
        B, N, C = x.shape
        qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias, requires_grad=False), self.v_bias))
        qkv = F.linear(input=x, weight=self.qkv.weight, bias=qkv_bias)
        qkv = qkv.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)  # the reference casts to float32 here; float64 throughout in this oracle
        if relative_position_bias is not None:
            attn = attn + relative_position_bias.unsqueeze(0)
        if mask is not None:
            attn = attn.masked_fill(~mask.bool()[:, None, None, :], float('-inf'))
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, with_vlffn, layer_scale, max_text_len):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2_text = nn.LayerNorm(dim, eps=1e-6)
        self.norm2_imag = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_text = Mlp(dim, mlp)
        self.mlp_imag = Mlp(dim, mlp)
        self.mlp_vl = None
        if with_vlffn:
            self.mlp_vl = Mlp(dim, mlp)
            self.norm2_vl = nn.LayerNorm(dim, eps=1e-6)
        self.gamma_1 = nn.Parameter(layer_scale * torch.ones(dim))
        self.gamma_2 = nn.Parameter(layer_scale * torch.ones(dim))
        self.max_text_len = max_text_len

    def forward(self, x, mask=None, modality_type=None, relative_position_bias=None):
        x = x + self.gamma_1 * self.attn(self.norm1(x), mask=mask, relative_position_bias=relative_position_bias)
        if modality_type == 'image':
            return x + self.gamma_2 * self.mlp_imag(self.norm2_imag(x))
        if modality_type == 'text':
            return x + self.gamma_2 * self.mlp_text(self.norm2_text(x))
        if self.mlp_vl is None:
            x_text, x_imag = x[:, :self.max_text_len], x[:, self.max_text_len:]
            x_text = x_text + self.gamma_2 * self.mlp_text(self.norm2_text(x_text))
            x_imag = x_imag + self.gamma_2 * self.mlp_imag(self.norm2_imag(x_imag))
            return torch.cat([x_text, x_imag], dim=1)
        return x + self.gamma_2 * self.mlp_vl(self.norm2_vl(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x)


class MultiWayTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.patch_embed = PatchEmbed(c['patchSize'], c['dim'])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c['dim']))
        self.blocks = nn.ModuleList([Block(c['dim'], c['heads'], c['mlpDim'], i >= c['vlffnStart'], c['layerScale'], c['maxTextLen'])
                                     for i in range(c['depth'])])
        self.norm = nn.LayerNorm(c['dim'], eps=1e-6)

    def visual_embed(self, img, mim_mask=None, mask_token=None):
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        if mim_mask is not None:  # BEiT: x * (1 - w) + mask_token * w
            w = mim_mask.unsqueeze(-1).type_as(x)
            x = x * (1 - w) + mask_token * w
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return x, torch.ones(x.shape[0], x.shape[1], dtype=torch.long)


# --- BERT embeddings in rel_pos mode, heads (heads.py) -------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, vocab, dim, max_len):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_len, dim)  # exists, unused with rel_pos
        self.token_type_embeddings = nn.Embedding(2, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, ids):
        return self.LayerNorm(self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids)))


class Pooler(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class Head(nn.Module):
    def __init__(self, dim, out, bias=True):
        super().__init__()
        self.fc = nn.Linear(dim, out, bias=bias)

    def forward(self, x):
        return self.fc(x)


class Transform(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class MLMHead(nn.Module):
    def __init__(self, dim, vocab):
        super().__init__()
        self.transform = Transform(dim)
        self.decoder = nn.Linear(dim, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, x):
        return self.decoder(self.transform(x)) + self.bias


class MimHead(nn.Module):
    def __init__(self, dim, k):
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, k)

    def forward(self, x):
        return self.fc(self.norm(x))


# --- VLMo (vlmo_module.py) ------------------------------------------------------------------------
class VLMo(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = MultiWayTransformer(c)
        self.num_layers, self.vlffn_start_layer_index = c['depth'], c['vlffnStart']
        self.build_relative_position_embed(c)
        self.text_embeddings = BertEmbeddings(c['vocabSize'], c['dim'], c['maxTextLen'])
        self.token_type_embeddings = nn.Embedding(2, c['dim'])
        self.pooler = Pooler(c['dim'])
        self.mlm_score = MLMHead(c['dim'], c['vocabSize'])
        self.itm_score = Head(c['dim'], 2)
        for name in ('itc_text_proj', 'itc_image_proj', 'itc_vl_text_proj', 'itc_vl_image_proj'):
            setattr(self, name, Head(c['dim'], c['dim'], bias=False))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.logit_vl_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c['dim']))
        self.mim_head = MimHead(c['dim'], c['codebookSize'])

    def build_relative_position_embed(self, c):
        # As the reference builds it, step by step.
        g = c['imageSize'] // c['patchSize']
        window_size, num_heads = (g, g), c['heads']
        max_text_len_of_initckpt, max_text_len = c['maxTextLenOfInitCkpt'], c['maxTextLen']
        max_imag_len = g * g + 1
        self.num_relative_distance = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) + 3
        self.text_num_relative_distance = 2 * max_text_len_of_initckpt
        self.all_num_relative_distance = self.num_relative_distance + self.text_num_relative_distance + 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros(self.all_num_relative_distance, num_heads * self.num_layers))
        coords = torch.stack(torch.meshgrid([torch.arange(window_size[0]), torch.arange(window_size[1])], indexing='ij'))
        coords_flatten = torch.flatten(coords, 1)
        relative_coords = (coords_flatten[:, :, None] - coords_flatten[:, None, :]).permute(1, 2, 0).contiguous()
        relative_coords[:, :, 0] += window_size[0] - 1
        relative_coords[:, :, 1] += window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * window_size[1] - 1
        relative_position_index = torch.zeros(size=(max_imag_len,) * 2, dtype=relative_coords.dtype)
        relative_position_index[1:, 1:] = relative_coords.sum(-1)
        relative_position_index[0, 0:] = self.num_relative_distance - 3
        relative_position_index[0:, 0] = self.num_relative_distance - 2
        relative_position_index[0, 0] = self.num_relative_distance - 1
        self.relative_position_index = relative_position_index
        text_position_ids = torch.arange(max_text_len - 1)
        text_rel_pos_mat = text_position_ids.unsqueeze(-2) - text_position_ids.unsqueeze(-1)
        text_rel_pos_mat = text_rel_pos_mat - int(2 - max_text_len_of_initckpt)
        text_rel_pos_mat += self.num_relative_distance + 2
        text_relative_position_index = torch.zeros(size=(max_text_len,) * 2, dtype=relative_coords.dtype)
        text_relative_position_index[1:, 1:] = text_rel_pos_mat
        text_relative_position_index[0, 0:] = self.all_num_relative_distance - 3
        text_relative_position_index[0:, 0] = self.all_num_relative_distance - 2
        text_relative_position_index[0, 0] = self.all_num_relative_distance - 1
        self.text_relative_position_index = text_relative_position_index
        text2imag = torch.ones(max_text_len, max_imag_len, dtype=torch.long) * self.num_relative_distance
        imag2text = torch.ones(max_imag_len, max_text_len, dtype=torch.long) * (self.num_relative_distance + 1)
        text_row = torch.cat((text_relative_position_index, text2imag), 1)
        imag_row = torch.cat((imag2text, relative_position_index), 1)
        self.text_imag_relative_position_index = torch.cat((text_row, imag_row), 0)

    def get_rel_pos_bias(self, index):
        bias = F.embedding(index.long(), self.relative_position_bias_table).permute(2, 0, 1).contiguous()
        return torch.chunk(bias, self.num_layers, dim=0)

    def embed_image(self, img, mim_mask=None):
        x, masks = self.transformer.visual_embed(img, mim_mask, self.mask_token)
        return x + self.token_type_embeddings(torch.full_like(masks, 1)), masks

    def embed_text(self, ids, masks):
        return self.text_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(masks))

    def infer(self, ids, masks, img):
        text_embeds = self.embed_text(ids, masks)
        image_embeds, image_masks = self.embed_image(img)
        x = torch.cat([text_embeds, image_embeds], dim=1)
        co_masks = torch.cat([masks, image_masks], dim=1)
        biases = self.get_rel_pos_bias(self.text_imag_relative_position_index)
        for i, blk in enumerate(self.transformer.blocks):
            x = blk(x, mask=co_masks, modality_type='vl', relative_position_bias=biases[i])
        x = self.transformer.norm(x)
        return x[:, :text_embeds.shape[1]], self.pooler(x)

    def infer_unimodal(self, x, masks, modality, index, proj, vl_proj, vl_branch=True):
        biases, hidden = self.get_rel_pos_bias(index), []
        for i, blk in enumerate(self.transformer.blocks):
            x = blk(x, mask=masks, modality_type=modality, relative_position_bias=biases[i])
            hidden.append(x)
        out = self.transformer.norm(hidden[-1])
        if not vl_branch:
            return out, None, None
        v = hidden[self.vlffn_start_layer_index - 1]
        for i in range(self.vlffn_start_layer_index, self.num_layers):
            v = self.transformer.blocks[i](v, mask=masks, modality_type='vl', relative_position_bias=biases[i])
        v = self.transformer.norm(v)
        f, fv = proj(out[:, 0]), vl_proj(v[:, 0])
        return out, f / f.norm(dim=-1, keepdim=True), fv / fv.norm(dim=-1, keepdim=True)

    def infer_image(self, img):
        x, masks = self.embed_image(img)
        return self.infer_unimodal(x, masks, 'image', self.relative_position_index, self.itc_image_proj, self.itc_vl_image_proj)

    def infer_text(self, ids, masks, vl_branch=True):
        return self.infer_unimodal(self.embed_text(ids, masks), masks, 'text', self.text_relative_position_index,
                                   self.itc_text_proj, self.itc_vl_text_proj, vl_branch)


# --- objectives (objectives.py), single process: the global batch is the local one ---------------
def contrastive(img, txt, scale):
    logits_per_image = scale.exp() * img @ txt.t()
    gt = torch.arange(len(logits_per_image))
    return (F.cross_entropy(logits_per_image, gt) + F.cross_entropy(logits_per_image.t(), gt)) / 2, logits_per_image


def vl_objective(m, b):
    _, fi, fiv = m.infer_image(b['images'])
    _, ft, ftv = m.infer_text(b['ids'], b['attention_mask'])
    itc_a, _ = contrastive(fi, ft, m.logit_scale)
    itc_b, _ = contrastive(fiv, ftv, m.logit_vl_scale)
    itc = (itc_a + itc_b) * 0.5
    neg_img, neg_txt = b['neg_image'].long(), b['neg_text'].long()
    _, pos = m.infer(b['ids'], b['attention_mask'], b['images'])
    _, imgs_neg = m.infer(b['ids'], b['attention_mask'], b['images'][neg_img])
    _, text_neg = m.infer(b['ids'][neg_txt], b['attention_mask'][neg_txt], b['images'])
    itm_logits = m.itm_score(torch.cat([pos, imgs_neg, text_neg], dim=0))
    B = len(pos)
    itm_labels = torch.cat([torch.ones(B), torch.zeros(B), torch.zeros(B)]).long()
    itm = F.cross_entropy(itm_logits, itm_labels)
    text_feats, _ = m.infer(b['mlm_ids'], b['attention_mask'], b['images'])
    mlm_logits = m.mlm_score(text_feats)
    mlm = F.cross_entropy(mlm_logits.view(-1, m.c['vocabSize']), b['mlm_labels'].long().view(-1), ignore_index=-100)
    losses = {'mlm': mlm * 0.25, 'itc': itc, 'itm': itm}
    total = sum(losses.values())  # training_step: every 'loss' key, in insertion order
    return {'itc': itc, 'itc_a': itc_a, 'itc_b': itc_b, 'itm': itm, 'mlm': mlm, 'total': total}, itm_logits


def text_objective(m, b):
    feats, _, _ = m.infer_text(b['mlm_ids'], b['attention_mask'], vl_branch=False)
    logits = m.mlm_score(feats)
    return {'mlm': F.cross_entropy(logits.view(-1, m.c['vocabSize']), b['mlm_labels'].long().view(-1), ignore_index=-100)}


def mim_objective(m, b):
    x, masks = m.embed_image(b['images'], b['mim_mask'])
    biases = m.get_rel_pos_bias(m.relative_position_index)
    for i, blk in enumerate(m.transformer.blocks):
        x = blk(x, mask=masks, modality_type='image', relative_position_bias=biases[i])
    x = m.transformer.norm(x)[:, 1:]
    sel = b['mim_mask'].bool()
    return {'mim': F.cross_entropy(m.mim_head(x[sel]), b['codes'].long()[sel])}


def main(config_path, state_path, batch_path, out_path):
    with open(config_path) as f:
        c = json.load(f)
    m = VLMo(c)
    m.load_state_dict(load_safetensors(state_path), strict=True)
    b = load_safetensors(batch_path)
    out = {'index.image': m.relative_position_index.to(torch.int32), 'index.text': m.text_relative_position_index.to(torch.int32),
           'index.vl': m.text_imag_relative_position_index.to(torch.int32)}
    for stage, fn in (('vl', vl_objective), ('text', text_objective), ('mim', mim_objective)):
        m.zero_grad(set_to_none=True)
        res = fn(m, b)
        losses, extra = (res if isinstance(res, tuple) else (res, None))
        loss = losses['total'] if stage == 'vl' else next(iter(losses.values()))
        loss.backward()
        for k, v in losses.items():
            out[f'loss.{stage}.{k}'] = v.detach().reshape([])
        if extra is not None:
            out['itm_logits'] = extra.detach()
        for name, p in m.named_parameters():
            if p.grad is not None:
                out[f'grad.{stage}.{name}'] = p.grad
        print(stage, {k: round(v.item(), 6) for k, v in losses.items()})
    save_safetensors(out_path, out)


if __name__ == '__main__':
    main(*sys.argv[1:5])
