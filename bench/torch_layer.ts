/**
 * The PyTorch twin of vlgrad's TransformerLayer (pre-LN, fused qkv with bias, exact GELU), as Python
 * source for the benchmark scripts that time PyTorch through /usr/bin/python3 (bench/peers.ts,
 * bench/transformer_layer.ts). It reads the globals B, T, C, H and MLP, which the script defines first.
 */
export const TORCH_LAYER_PY = `class Layer(nn.Module):  # pre-LN, fused qkv with bias, exact GELU: vlgrad's TransformerLayer
    def __init__(s):
        super().__init__()
        s.norm1, s.norm2 = nn.LayerNorm(C, eps=1e-6), nn.LayerNorm(C, eps=1e-6)
        s.qkv, s.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        s.fc1, s.fc2 = nn.Linear(C, MLP), nn.Linear(MLP, C)
    def forward(s, x):
        q, k, v = s.qkv(s.norm1(x)).reshape(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
        a = ((q * (C // H) ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
        x = x + s.proj(a.transpose(1, 2).reshape(B, T, C))
        return x + s.fc2(F.gelu(s.fc1(s.norm2(x))))
`;

/**
 * The PyTorch side of bench/peers.ts as one Python script: each cell timed with the same protocol
 * as the JS cells (one warm-up call, then the median of up to 7), with 1 and 2 threads; prints
 * {"version", "results": {threads: {cell: {"ms", "runs"}}}} as JSON.
 */
export function torchPeersPy(p: {
  B: number;
  T: number;
  C: number;
  H: number;
  MLP: number;
  matmulSizes: readonly number[];
  rowShapes: readonly (readonly [number, number])[];
  budgetS: number;
  maxS: number;
}): string {
  return `
import json, time, torch
import torch.nn as nn, torch.nn.functional as F
B, T, C, H, MLP = ${p.B}, ${p.T}, ${p.C}, ${p.H}, ${p.MLP}
MATMUL, ROWS, BUDGET, MAXC = ${JSON.stringify(p.matmulSizes)}, ${JSON.stringify(p.rowShapes)}, ${p.budgetS}, ${p.maxS}
${TORCH_LAYER_PY}
def cell(fn):
    t0 = time.perf_counter(); fn(); warm = time.perf_counter() - t0
    n = min(7, max(3, int(BUDGET / max(warm, 1e-6))))
    if warm * n > MAXC: return {"ms": warm * 1e3, "runs": 0}
    ts = []
    for _ in range(n):
        s = time.perf_counter(); fn(); ts.append(time.perf_counter() - s)
    return {"ms": sorted(ts)[n // 2] * 1e3, "runs": n}
out = {}
for threads in (1, 2):
    torch.set_num_threads(threads); torch.manual_seed(0); r = {}
    with torch.no_grad():
        for n in MATMUL:
            a, b = torch.randn(n, n), torch.randn(n, n)
            r["matmul %d" % n] = cell(lambda: a @ b)
        for (m, k) in ROWS:
            x, w, bb = torch.randn(m, k), torch.ones(k), torch.zeros(k)
            r["softmax %d,%d" % (m, k)] = cell(lambda: x.softmax(-1))
            r["layerNorm %d,%d" % (m, k)] = cell(lambda: F.layer_norm(x, (k,), w, bb, 1e-5))
    layer, x = Layer(), torch.randn(B, T, C)
    def step():
        layer.zero_grad(set_to_none=True); layer(x).mean().backward()
    r["layer"] = cell(step)
    out[threads] = r
print(json.dumps({"version": torch.__version__, "results": out}))
`;
}
