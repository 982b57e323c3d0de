"""PyTorch peer for `npm run bench:train`: the same Llama model, the same LoRA (rank 8 on
q,k,v,o,gate,up,down, alpha 16), the same batch, timed the same way (tokens/s of a LoRA training
step and of a forward pass). Prints one JSON line. Run with Debian's python3-torch:

    /usr/bin/python3 bench/torch_llama.py --checkpoint ../shared/models/stories260K/stories260K.bin
    /usr/bin/python3 bench/torch_llama.py --shape 288,768,6,6,6,32000 --seq-len 256

With --generate (the peer of `npm run bench:generate`): greedy decoding with a KV cache, --new-tokens per
prompt, for each batch size in --batches, from seeded random prompts of --prompt-len tokens; tokens/s.
With --blas-only: just the BLAS check below (the peer of `npm run bench:kernels`' matmul).

Every JSON line names the BLAS library PyTorch called and its own f32 matmul 1024 GFLOP/s. Debian's
python3-torch calls whatever libblas.so.3 the system's alternatives point to: without libopenblas0-pthread
that is the generic reference BLAS, about 30x slower than OpenBLAS, and a ratio against it would flatter us.
So on the reference BLAS (or one this script cannot name) it prints the check with a "refused" reason and
exits with status 3 instead of timing anything; --allow-slow-blas times it anyway (for curiosity, not for
a report).

--device auto (the default) runs on CUDA where this PyTorch has it and a GPU is present, else on the CPU:
on a GPU machine the same commands then time PyTorch on CUDA against our WebGPU on that GPU. There the
check names cuBLAS and the GPU, times the matmul on it (TF32 off, as PyTorch's default is: f32 like ours),
and every timing waits for the GPU (torch.cuda.synchronize). Not yet run on a GPU: none was at hand.
"""
import argparse, json, math, os, struct, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Lora(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


def rope(x, theta, start=0):  # interleaved pairs, x [B, T, H, D] at positions start..start+T-1
    b, t, h, d = x.shape
    freqs = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)
    ang = torch.outer(torch.arange(start, start + t, dtype=torch.float32, device=x.device), freqs)
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, dim, hidden, heads, kv_heads, eps, theta):
        super().__init__()
        self.heads, self.kv_heads, self.hd, self.eps, self.theta = heads, kv_heads, dim // heads, eps, theta
        self.attn_norm, self.ffn_norm = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.ones(dim))
        kv = kv_heads * self.hd
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False), nn.Linear(dim, kv, bias=False),
                                              nn.Linear(dim, kv, bias=False), nn.Linear(dim, dim, bias=False))
        self.w1, self.w2, self.w3 = nn.Linear(dim, hidden, bias=False), nn.Linear(hidden, dim, bias=False), nn.Linear(dim, hidden, bias=False)

    def norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def forward(self, x):
        b, t, _ = x.shape
        h = self.norm(x, self.attn_norm)
        q = rope(self.wq(h).view(b, t, self.heads, self.hd), self.theta)
        k = rope(self.wk(h).view(b, t, self.kv_heads, self.hd), self.theta)
        v = self.wv(h).view(b, t, self.kv_heads, self.hd)
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=2), v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # torch 1.13: no fused SDPA
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        a = scores.masked_fill(mask, float('-inf')).softmax(-1) @ v
        x = x + self.wo(a.transpose(1, 2).reshape(b, t, -1))
        h = self.norm(x, self.ffn_norm)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


def decode(model, ids, cache):
    """KV-cached step: ids [B, n] at positions len(cache)..; returns the last position's logits [B, vocab]."""
    x = model.emb(ids)
    b, t, _ = x.shape
    start = cache[0][0].shape[1] if cache[0] else 0
    for blk, kv in zip(model.blocks, cache):
        h = blk.norm(x, blk.attn_norm)
        q = rope(blk.wq(h).view(b, t, blk.heads, blk.hd), blk.theta, start)
        k = rope(blk.wk(h).view(b, t, blk.kv_heads, blk.hd), blk.theta, start)
        v = blk.wv(h).view(b, t, blk.kv_heads, blk.hd)
        if kv:
            k, v = torch.cat((kv[0], k), 1), torch.cat((kv[1], v), 1)
        kv[:] = [k, v]
        rep = blk.heads // blk.kv_heads
        kk, vv = k.repeat_interleave(rep, dim=2).transpose(1, 2), v.repeat_interleave(rep, dim=2).transpose(1, 2)
        scores = (q.transpose(1, 2) @ kk.transpose(-1, -2)) / math.sqrt(blk.hd)
        total = start + t
        mask = torch.ones(t, total, dtype=torch.bool, device=x.device).triu(start + 1)
        a = scores.masked_fill(mask, float('-inf')).softmax(-1) @ vv
        x = x + blk.wo(a.transpose(1, 2).reshape(b, t, -1))
        h = blk.norm(x, blk.ffn_norm)
        x = x + blk.w2(F.silu(blk.w1(h)) * blk.w3(h))
    x = x[:, -1]
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + model.eps) * model.final_norm
    return x @ model.emb.weight.t()


def sync(device):
    """Waits for the GPU's queued work, so that a timer read after it counts it (a no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def generate_bench(model, vocab, a, device):
    rows = []
    for batch in map(int, a.batches.split(',')):
        prompts = torch.randint(0, vocab, (batch, a.prompt_len), generator=torch.Generator().manual_seed(1)).to(device)
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            cache = [[] for _ in model.blocks]
            ids = prompts
            for _ in range(a.new_tokens):
                ids = decode(model, ids, cache).argmax(-1, keepdim=True)
        sync(device)
        seconds = time.perf_counter() - t0
        rows.append({'batch': batch, 'seconds': seconds, 'tokens_per_s': batch * a.new_tokens / seconds})
    return {'generate': rows, 'prompt_len': a.prompt_len, 'new_tokens': a.new_tokens}


def matmul_1024_gflops(device):
    """f32 matmul 1024 on the device, GFLOP/s: best of 5 after a warm-up (which also loads the BLAS)."""
    a, b = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
    a @ b
    best = math.inf
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * 1024 ** 3 / best / 1e9


def cuda_check(device):
    """On a GPU: cuBLAS, the GPU's name, and its f32 matmul 1024 GFLOP/s."""
    name = torch.cuda.get_device_name(device)
    return {'blas': f'cuBLAS on {name}', 'blas_library': f'CUDA {torch.version.cuda}', 'matmul_1024_gflops': matmul_1024_gflops(device),
            'torch': torch.__version__, 'threads': torch.get_num_threads(), 'device': 'cuda'}


def blas_check(threads):
    """The BLAS library mapped into this process after a matmul, by file name, and matmul 1024 GFLOP/s."""
    gflops = matmul_1024_gflops(torch.device('cpu'))  # its first matmul loads the BLAS
    with open('/proc/self/maps') as maps:
        libs = sorted({os.path.realpath(line.split()[-1]) for line in maps if '.so' in line and any(k in line.lower() for k in ('blas', 'mkl', 'blis', 'atlas'))})
    # Debian's torch links libblas.so.3 (BLAS_INFO=generic): sgemm comes from whichever file that name
    # resolved to, even when other BLAS libraries are mapped too (OpenBLAS's liblapack pulls its own in).
    linked = [p for p in libs if os.path.basename(p).startswith('libblas.so')]
    source = linked[0] if linked else ', '.join(libs) or 'no BLAS library found'
    provider = source.lower()
    if 'openblas' in provider:
        name = 'OpenBLAS'
    elif 'mkl' in provider:
        name = 'MKL'
    elif 'blis' in provider:
        name = 'BLIS'
    elif 'atlas' in provider:
        name = 'ATLAS'
    elif '/blas/libblas.so' in provider:
        name = 'reference BLAS (libblas3)'
    else:
        name = 'unknown'
    info = {'blas': name, 'blas_library': source, 'matmul_1024_gflops': gflops, 'torch': torch.__version__, 'threads': threads, 'device': 'cpu'}
    if name in ('reference BLAS (libblas3)', 'unknown'):
        info['refused'] = (f'PyTorch runs on {name} ({source}; matmul 1024 at '
                           f'{info["matmul_1024_gflops"]:.1f} GFLOP/s): a ratio against it would flatter us. '
                           'Install an optimised BLAS: apt-get install python3-torch libopenblas0-pthread')
    return info


class Llama(nn.Module):
    def __init__(self, dim, hidden, layers, heads, kv_heads, vocab, eps=1e-5, theta=10000.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, hidden, heads, kv_heads, eps, theta) for _ in range(layers))
        self.final_norm = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, ids):
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.final_norm
        return x @ self.emb.weight.t()  # tied classifier


def load_llama2c(path):
    with open(path, 'rb') as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack('7i', f.read(28))
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    m = Llama(dim, hidden, layers, heads, kv_heads, abs(vocab))
    kv, off = kv_heads * dim // heads, 0

    def take(*shape):
        nonlocal off
        n = math.prod(shape)
        t = data[off:off + n].view(*shape)
        off += n
        return t

    with torch.no_grad():
        m.emb.weight.copy_(take(abs(vocab), dim))
        for name, shape in [('attn_norm', (dim,)), ('wq', (dim, dim)), ('wk', (kv, dim)), ('wv', (kv, dim)), ('wo', (dim, dim)),
                            ('ffn_norm', (dim,)), ('w1', (hidden, dim)), ('w2', (dim, hidden)), ('w3', (hidden, dim))]:
            for blk in m.blocks:
                p = getattr(blk, name)
                (p if isinstance(p, nn.Parameter) else p.weight).copy_(take(*shape))
        m.final_norm.copy_(take(dim))
    return m, abs(vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint')
    ap.add_argument('--shape', help='dim,hidden,layers,heads,kv_heads,vocab (random weights)')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--seq-len', type=int, default=256)
    ap.add_argument('--rank', type=int, default=8)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--generate', action='store_true')
    ap.add_argument('--batches', default='1,16,64')
    ap.add_argument('--prompt-len', type=int, default=48)
    ap.add_argument('--new-tokens', type=int, default=96)
    ap.add_argument('--blas-only', action='store_true')
    ap.add_argument('--allow-slow-blas', action='store_true')
    ap.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cuda = a.device == 'cuda' or (a.device == 'auto' and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise SystemExit('--device cuda: this PyTorch has no CUDA, or no GPU is visible')
    device = torch.device('cuda' if cuda else 'cpu')
    blas = cuda_check(device) if cuda else blas_check(a.threads)
    if a.blas_only or ('refused' in blas and not a.allow_slow_blas):
        print(json.dumps(blas))
        raise SystemExit(3 if 'refused' in blas else 0)
    if a.checkpoint:
        model, vocab = load_llama2c(a.checkpoint)
    else:
        dim, hidden, layers, heads, kv_heads, vocab = map(int, a.shape.split(','))
        model = Llama(dim, hidden, layers, heads, kv_heads, vocab)
    model.to(device)
    if a.generate:
        return print(json.dumps({**generate_bench(model, vocab, a, device), **blas}))
    for p in model.parameters():
        p.requires_grad_(False)
    for blk in model.blocks:
        for name in ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3']:
            setattr(blk, name, Lora(getattr(blk, name), a.rank, 2 * a.rank).to(device))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    ids = torch.randint(0, vocab, (a.batch, a.seq_len + 1)).to(device)
    x, y = ids[:, :-1], ids[:, 1:]
    tokens = a.batch * a.seq_len

    def train_step():
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed(fn, steps):
        fn()  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        return steps * tokens / (time.perf_counter() - t0)

    train = timed(train_step, a.steps)
    with torch.no_grad():
        fwd = timed(lambda: model(x), a.steps)
    print(json.dumps({'train_tokens_per_s': train, 'forward_tokens_per_s': fwd, **blas}))


if __name__ == '__main__':
    main()
