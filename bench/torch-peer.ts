// The PyTorch peer of the benchmarks (bench/torch_llama.py under Debian's /usr/bin/python3): runs it, and
// passes on its BLAS check. The script names the BLAS library PyTorch called and times its own matmul
// 1024; on the generic reference BLAS it refuses (exit 3) rather than time a peer 30x slower than it
// should be, and no ratio is printed against it. Where PyTorch has CUDA and sees a GPU, the peer runs
// there (cuBLAS), as the peer of our WebGPU on a real GPU.
import { execFileSync } from 'node:child_process';

export interface BlasCheck {
  blas: string;
  blas_library: string;
  matmul_1024_gflops: number;
  torch: string;
  threads: number;
  /** 'cpu', or 'cuda' where the script found a GPU. */
  device: 'cpu' | 'cuda';
}

export type PeerResult<T> = { ok: true; value: T & BlasCheck } | { ok: false; why: string };

const INSTALL = 'apt-get install python3-torch libopenblas0-pthread';

/** Runs torch_llama.py with `args`; its last output line is one JSON object. */
export function runTorchPeer<T>(args: readonly string[]): PeerResult<T> {
  let out: string;
  try {
    out = execFileSync('/usr/bin/python3', ['bench/torch_llama.py', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { status?: number; stdout?: string; message: string };
    if (err.status === 3 && err.stdout) {
      const refused = JSON.parse(err.stdout.trim().split('\n').at(-1)!) as { refused: string };
      return { ok: false, why: refused.refused };
    }
    return { ok: false, why: `${err.message.split('\n')[0]} (${INSTALL})` };
  }
  return { ok: true, value: JSON.parse(out.trim().split('\n').at(-1)!) as T & BlasCheck };
}

/** One line for a benchmark's header: what the peer ran on, or why there is no peer. */
export function describePeer(r: PeerResult<unknown>): string {
  return r.ok
    ? `PyTorch ${r.value.torch} on ${r.value.blas} (${r.value.blas_library}), ${r.value.threads} threads: its matmul 1024 runs at ${r.value.matmul_1024_gflops.toFixed(1)} GFLOP/s`
    : `no PyTorch peer, so no ratios: ${r.why}`;
}
