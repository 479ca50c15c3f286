#!/usr/bin/python3
"""Baseline for cddp_ps_bench: torch.distributed all_reduce of N fp32 over
gloo between W local processes (what users would run instead of the
parameter servers). Prints one line: gloo_allreduce_ms_median=<ms>.

Run with Debian's /usr/bin/python3 (python3-torch):
  /usr/bin/python3 bench/gloo_allreduce.py --world 2 --n 25600000 --iters 7
"""
import argparse
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(rank, world, n, iters, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    t = torch.ones(n, dtype=torch.float32)
    dist.all_reduce(t)  # warm-up: connections, buffers
    times = []
    for _ in range(iters):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(t)
        times.append((time.perf_counter() - start) * 1e3)
    if rank == 0:
        out.put(times)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--n", type=int, default=25_600_000)
    p.add_argument("--iters", type=int, default=7)
    a = p.parse_args()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=run, args=(r, a.world, a.n, a.iters, port, out))
             for r in range(a.world)]
    for pr in procs:
        pr.start()
    times = out.get()
    for pr in procs:
        pr.join()
    print("gloo_allreduce_ms_all=" + ",".join(f"{t:.1f}" for t in times))
    print(f"gloo_allreduce_ms_median={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
