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
