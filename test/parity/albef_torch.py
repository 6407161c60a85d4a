"""PyTorch oracle for test/models/albef_parity.test.ts.

A micro ALBEF in plain torch (no transformers/timm), following the module structure and names of
the reference code (ALBEF:models/vit.py, models/xbert.py, models/model_pretrain.py), in float64 with
dropout off. It loads the state dict and batch that vlgrad exported, runs one pre-training forward
(clamp temp, momentum update, ITC with distillation and queues, enqueue, ITM on the given hard
negatives, MLM with distillation on the given masks), back-propagates the total, and writes the
losses, every online gradient and the updated momentum model and queues for vlgrad to compare.

Usage: albef_torch.py <config.json> <state.safetensors> <batch.safetensors> <out.safetensors>
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
DTYPES = {'F64': (torch.float64, 8), 'F32': (torch.float32, 4), 'I32': (torch.int32, 4), 'I64': (torch.int64, 8)}


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        dtype, _ = DTYPES[e['dtype']]
        begin, end = e['data_offsets']
        t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype) if end > begin else torch.zeros(0, dtype=dtype)
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


# --- ViT (ALBEF:models/vit.py, timm PatchEmbed / Attention / Mlp / Block) -------------------------
class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=eps), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=eps), Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, v):
        super().__init__()
        D, n = v['dim'], (v['imageSize'] // v['patchSize']) ** 2
        self.patch_embed = PatchEmbed(v['patchSize'], D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, D))
        self.blocks = nn.ModuleList([Block(D, v['heads'], v['mlpDim'], v['eps']) for _ in range(v['depth'])])
        self.norm = nn.LayerNorm(D, eps=v['eps'])

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed[:, :x.size(1) + 1, :]
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# --- BERT with fusion layers (ALBEF:models/xbert.py) --------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, t):
        super().__init__()
        C = t['hidden']
        self.word_embeddings = nn.Embedding(t['vocabSize'], C, padding_idx=t['padId'])
        self.position_embeddings = nn.Embedding(t['maxPositions'], C)
        self.token_type_embeddings = nn.Embedding(t['typeVocabSize'], C)
        self.LayerNorm = nn.LayerNorm(C, eps=t['eps'])

    def forward(self, input_ids):
        L = input_ids.shape[1]
        position_ids = torch.arange(L).unsqueeze(0)
        token_type_ids = torch.zeros_like(input_ids)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(e + self.position_embeddings(position_ids))


class BertSelfAttention(nn.Module):
    def __init__(self, t, is_cross):
        super().__init__()
        C, kv = t['hidden'], t['encoderWidth'] if is_cross else t['hidden']
        self.heads, self.head_dim = t['heads'], C // t['heads']
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(kv, C), nn.Linear(kv, C)

    def split(self, x):
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, hidden, mask, enc=None, enc_mask=None):
        src = hidden if enc is None else enc
        m = mask if enc is None else enc_mask
        q, k, v = self.split(self.query(hidden)), self.split(self.key(src)), self.split(self.value(src))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + m
        probs = scores.softmax(dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), -1)


class BertSelfOutput(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(t['hidden'], t['hidden']), nn.LayerNorm(t['hidden'], eps=t['eps'])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertAttention(nn.Module):
    def __init__(self, t, is_cross=False):
        super().__init__()
        self.self, self.output = BertSelfAttention(t, is_cross), BertSelfOutput(t)

    def forward(self, x, mask, enc=None, enc_mask=None):
        return self.output(self.self(x, mask, enc, enc_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.dense = nn.Linear(t['hidden'], t['intermediate'])

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(t['intermediate'], t['hidden']), nn.LayerNorm(t['hidden'], eps=t['eps'])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertLayer(nn.Module):
    def __init__(self, t, layer_num):
        super().__init__()
        self.attention = BertAttention(t)
        self.has_cross_attention = layer_num >= t['fusionLayer']
        if self.has_cross_attention:
            self.crossattention = BertAttention(t, is_cross=True)
        self.intermediate, self.output = BertIntermediate(t), BertOutput(t)

    def forward(self, x, mask, enc=None, enc_mask=None):
        x = self.attention(x, mask)
        if self.has_cross_attention:
            x = self.crossattention(x, mask, enc, enc_mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.t = t
        self.layer = nn.ModuleList([BertLayer(t, i) for i in range(t['layers'])])

    def forward(self, x, mask, enc=None, enc_mask=None, mode='multi_modal'):
        start, end = {'text': (0, self.t['fusionLayer']), 'fusion': (self.t['fusionLayer'], self.t['layers']),
                      'multi_modal': (0, self.t['layers'])}[mode]
        for i in range(start, end):
            x = self.layer[i](x, mask, enc, enc_mask)
        return x


def extended(mask):
    return (1.0 - mask[:, None, None, :].to(torch.float64)) * -10000.0


class BertModel(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.embeddings, self.encoder = BertEmbeddings(t), BertEncoder(t)

    def forward(self, input_ids=None, attention_mask=None, encoder_embeds=None, encoder_hidden_states=None, mode='multi_modal'):
        x = encoder_embeds if mode == 'fusion' else self.embeddings(input_ids)
        enc_mask = None
        if encoder_hidden_states is not None:
            enc_mask = extended(torch.ones(encoder_hidden_states.shape[:-1], dtype=torch.long))
        return self.encoder(x, extended(attention_mask), encoder_hidden_states, enc_mask, mode)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(t['hidden'], t['hidden']), nn.LayerNorm(t['hidden'], eps=t['eps'])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.transform = BertPredictionHeadTransform(t)
        self.decoder = nn.Linear(t['hidden'], t['vocabSize'], bias=False)
        self.bias = nn.Parameter(torch.zeros(t['vocabSize']))
        self.decoder.bias = self.bias

    def forward(self, x):
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.predictions = BertLMPredictionHead(t)

    def forward(self, x):
        return self.predictions(x)


class BertForMaskedLM(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.bert, self.cls = BertModel(t), BertOnlyMLMHead(t)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tie_weights

    def forward(self, input_ids, attention_mask, encoder_hidden_states, labels=None, soft_labels=None, alpha=0, return_logits=False):
        prediction_scores = self.cls(self.bert(input_ids, attention_mask, encoder_hidden_states=encoder_hidden_states))
        if return_logits:
            return prediction_scores
        loss = F.cross_entropy(prediction_scores.view(-1, prediction_scores.size(-1)), labels.view(-1))
        distill = -torch.sum(F.log_softmax(prediction_scores, dim=-1) * soft_labels, dim=-1)
        distill = distill[labels != -100].mean()
        return (1 - alpha) * loss + alpha * distill


# --- ALBEF pre-training model (ALBEF:models/model_pretrain.py) ----------------------------------
class ALBEF(nn.Module):
    def __init__(self, c):
        super().__init__()
        v, t, E = c['vision'], c['text'], c['embedDim']
        self.visual_encoder, self.text_encoder = VisionTransformer(v), BertForMaskedLM(t)
        self.vision_proj, self.text_proj = nn.Linear(v['dim'], E), nn.Linear(t['hidden'], E)
        self.temp = nn.Parameter(torch.ones([]) * c['temp'])
        self.queue_size, self.momentum = c['queueSize'], c['momentum']
        self.itm_head = nn.Linear(t['hidden'], 2)
        self.visual_encoder_m, self.vision_proj_m = VisionTransformer(v), nn.Linear(v['dim'], E)
        self.text_encoder_m, self.text_proj_m = BertForMaskedLM(t), nn.Linear(t['hidden'], E)
        self.model_pairs = [[self.visual_encoder, self.visual_encoder_m], [self.vision_proj, self.vision_proj_m],
                            [self.text_encoder, self.text_encoder_m], [self.text_proj, self.text_proj_m]]
        for a, b in self.model_pairs:
            for p in b.parameters():
                p.requires_grad = False
        self.register_buffer('image_queue', torch.zeros(E, self.queue_size))
        self.register_buffer('text_queue', torch.zeros(E, self.queue_size))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update(self):
        for a, b in self.model_pairs:
            for param, param_m in zip(a.parameters(), b.parameters()):
                param_m.data = param_m.data * self.momentum + param.data * (1. - self.momentum)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, image_feat, text_feat):
        bs, ptr = image_feat.shape[0], int(self.queue_ptr)
        assert self.queue_size % bs == 0
        self.image_queue[:, ptr:ptr + bs] = image_feat.T
        self.text_queue[:, ptr:ptr + bs] = text_feat.T
        self.queue_ptr[0] = (ptr + bs) % self.queue_size

    def forward(self, image, input_ids, attention_mask, alpha, neg_image, neg_text, mlm_ids, mlm_labels):
        with torch.no_grad():
            self.temp.clamp_(0.001, 0.5)
        image_embeds = self.visual_encoder(image)
        image_feat = F.normalize(self.vision_proj(image_embeds[:, 0, :]), dim=-1)
        text_embeds = self.text_encoder.bert(input_ids, attention_mask, mode='text')
        text_feat = F.normalize(self.text_proj(text_embeds[:, 0, :]), dim=-1)
        with torch.no_grad():
            self._momentum_update()
            image_embeds_m = self.visual_encoder_m(image)
            image_feat_m = F.normalize(self.vision_proj_m(image_embeds_m[:, 0, :]), dim=-1)
            image_feat_all = torch.cat([image_feat_m.t(), self.image_queue.clone().detach()], dim=1)
            text_out_m = self.text_encoder_m.bert(input_ids, attention_mask, mode='text')
            text_feat_m = F.normalize(self.text_proj_m(text_out_m[:, 0, :]), dim=-1)
            text_feat_all = torch.cat([text_feat_m.t(), self.text_queue.clone().detach()], dim=1)
            sim_i2t_m = image_feat_m @ text_feat_all / self.temp
            sim_t2i_m = text_feat_m @ image_feat_all / self.temp
            sim_targets = torch.zeros(sim_i2t_m.size())
            sim_targets.fill_diagonal_(1)
            sim_i2t_targets = alpha * F.softmax(sim_i2t_m, dim=1) + (1 - alpha) * sim_targets
            sim_t2i_targets = alpha * F.softmax(sim_t2i_m, dim=1) + (1 - alpha) * sim_targets
        sim_i2t = image_feat @ text_feat_all / self.temp
        sim_t2i = text_feat @ image_feat_all / self.temp
        loss_i2t = -torch.sum(F.log_softmax(sim_i2t, dim=1) * sim_i2t_targets, dim=1).mean()
        loss_t2i = -torch.sum(F.log_softmax(sim_t2i, dim=1) * sim_t2i_targets, dim=1).mean()
        loss_ita = (loss_i2t + loss_t2i) / 2
        self._dequeue_and_enqueue(image_feat_m, text_feat_m)

        # ITM: the hard negatives are passed in (the reference draws them with torch.multinomial).
        bs = image.size(0)
        output_pos = self.text_encoder.bert(encoder_embeds=text_embeds, attention_mask=attention_mask,
                                            encoder_hidden_states=image_embeds, mode='fusion')
        image_embeds_neg = torch.stack([image_embeds[i] for i in neg_image.tolist()], dim=0)
        text_embeds_neg = torch.stack([text_embeds[i] for i in neg_text.tolist()], dim=0)
        text_atts_neg = torch.stack([attention_mask[i] for i in neg_text.tolist()], dim=0)
        text_embeds_all = torch.cat([text_embeds, text_embeds_neg], dim=0)
        text_atts_all = torch.cat([attention_mask, text_atts_neg], dim=0)
        image_embeds_all = torch.cat([image_embeds_neg, image_embeds], dim=0)
        output_neg = self.text_encoder.bert(encoder_embeds=text_embeds_all, attention_mask=text_atts_all,
                                            encoder_hidden_states=image_embeds_all, mode='fusion')
        vl_embeddings = torch.cat([output_pos[:, 0, :], output_neg[:, 0, :]], dim=0)
        vl_output = self.itm_head(vl_embeddings)
        itm_labels = torch.cat([torch.ones(bs, dtype=torch.long), torch.zeros(2 * bs, dtype=torch.long)], dim=0)
        loss_itm = F.cross_entropy(vl_output, itm_labels)

        # MLM: the masked ids and labels are passed in (the reference draws them in mask()).
        with torch.no_grad():
            logits_m = self.text_encoder_m(mlm_ids, attention_mask, image_embeds_m, return_logits=True)
        loss_mlm = self.text_encoder(mlm_ids, attention_mask, image_embeds, labels=mlm_labels,
                                     soft_labels=F.softmax(logits_m, dim=-1), alpha=alpha)
        return loss_mlm, loss_ita, loss_itm, loss_i2t, loss_t2i, vl_output


def main():
    cfg_path, state_path, batch_path, out_path = sys.argv[1:5]
    with open(cfg_path) as f:
        cfg = json.load(f)
    model = ALBEF(cfg)
    state = load_safetensors(state_path)
    state = {k: (v.to(torch.long) if k == 'queue_ptr' else v) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    b = load_safetensors(batch_path)
    model.train()
    loss_mlm, loss_ita, loss_itm, loss_i2t, loss_t2i, vl_output = model(
        b['images'], b['ids'].long(), b['attention_mask'].long(), cfg['alpha'], b['neg_image'].long(), b['neg_text'].long(),
        b['mlm_ids'].long(), b['mlm_labels'].long())
    loss = loss_mlm + loss_ita + loss_itm  # ALBEF:Pretrain.py sums them with weight 1
    loss.backward()
    out = {'loss.mlm': loss_mlm, 'loss.itc': loss_ita, 'loss.itm': loss_itm, 'loss.i2t': loss_i2t,
           'loss.t2i': loss_t2i, 'loss.total': loss, 'itm_logits': vl_output}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out[f'grad.{name}'] = p.grad if p.grad is not None else torch.zeros_like(p)
    for name, t in model.state_dict().items():
        if '_m.' in name or name in ('image_queue', 'text_queue', 'queue_ptr', 'temp'):
            out[f'after.{name}'] = t
    save_safetensors(out_path, out)
    print(json.dumps({k: v.item() for k, v in out.items() if k.startswith('loss.')}))


if __name__ == '__main__':
    main()
