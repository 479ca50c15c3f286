#!/usr/bin/env python3
"""torch.topk on the GPU: the same-run baseline for cddp_gpu_bench.

Times torch.topk(x.abs(), k, sorted=False) -- what a PyTorch user runs to
pick the top k by magnitude -- and x.clone() (PyTorch's device copy of the
same bytes) on one tensor of --n normal floats at each density, with CUDA
events (median of --reps runs after --warmup). Prints, and with --out
writes, a table in cddp_gpu_bench's format:
  name density k median_us min_us x_copy
Exit status: 0 ok, 3 no CUDA device or no PyTorch with CUDA.
"""
import argparse
import math
import statistics
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=25_600_000)
    p.add_argument("--densities", default="0.01,0.001")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default="")
    args = p.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"no PyTorch: {e}", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print(f"no CUDA device visible to PyTorch {torch.__version__}",
              file=sys.stderr)
        return 3

    gen = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(args.n, device="cuda", generator=gen)

    def time_us(fn):
        times = []
        for i in range(args.warmup + args.reps):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            if i >= args.warmup:
                times.append(1000.0 * start.elapsed_time(stop))
        return statistics.median(times), min(times)

    rows = [("torch_clone", None, None) + time_us(lambda: x.clone())]
    for d in (float(s) for s in args.densities.split(",")):
        k = max(1, min(args.n, math.ceil(d * args.n)))  # common::TopKCount
        rows.append(("torch_topk", d, k) +
                    time_us(lambda: torch.topk(x.abs(), k, sorted=False)))

    props = torch.cuda.get_device_properties(0)
    lines = [
        f"# gpu_torch_topk.py: {props.name}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}",
        f"# n = {args.n} floats ({args.n * 4 / 1e6:.1f} MB), median of "
        f"{args.reps} runs after {args.warmup} warm-ups",
        f"{'name':<14} {'density':>8} {'k':>10} {'median_us':>12} "
        f"{'min_us':>12} {'x_copy':>9}",
    ]
    copy_us = rows[0][3]
    for name, d, k, med, lo in rows:
        dens = "-" if d is None else f"{d * 100:g}%"
        kk = "-" if k is None else str(k)
        lines.append(f"{name:<14} {dens:>8} {kk:>10} {med:>12.1f} {lo:>12.1f} "
                     f"{med / copy_us:>9.2f}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
