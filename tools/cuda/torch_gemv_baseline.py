# Side-by-side baseline for the CUDA GEMV test's timing: the same 14336 x 4096 products through
# PyTorch (cuBLAS), batch 1 and 8, median of 50 timed calls after warm-up (CUDA events).
import torch

rows, cols = 14336, 4096
for dt in (torch.float32, torch.bfloat16):
    w = torch.randn(rows, cols, device="cuda", dtype=dt)
    for batch in (1, 8):
        x = torch.randn(cols, batch, device="cuda", dtype=dt)
        for _ in range(5):
            torch.mm(w, x)
        torch.cuda.synchronize()
        times = []
        for _ in range(50):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            torch.mm(w, x)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
        s = sorted(times)[len(times) // 2]
        print(f"torch/cuBLAS {str(dt).split('.')[-1]} {rows} x {cols} batch {batch}: {s * 1e6:.1f} us, "
              f"{w.numel() * w.element_size() / s / 1e9:.0f} GB/s of weights")
