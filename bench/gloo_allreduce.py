#!/usr/bin/python3
"""Baseline for cddp_ps_bench: torch.distributed all_reduce of N fp32 over
gloo between W local processes (what users would run instead of the
parameter servers). Prints one line: gloo_allreduce_ms_median=<ms>.

Run with Debian's /usr/bin/python3 (python3-torch):
  /usr/bin/python3 bench/gloo_allreduce.py --world 2 --n 25600000 --iters 7

Across hosts (bench/netns_cluster.py runs one per network namespace), each
process is one rank and rank 0's host is the rendezvous:
  GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 bench/gloo_allreduce.py \
      --world 4 --rank R --master 10.77.0.1:29500
"""
import argparse
import os
import socket
import statistics
import time
from queue import SimpleQueue

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(rank, world, n, iters, master, out):
    dist.init_process_group("gloo", init_method=f"tcp://{master}",
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
    p.add_argument("--rank", type=int, default=-1,
                   help="run only this rank (one process per host); "
                        "default: all ranks here, on loopback")
    p.add_argument("--master", default="",
                   help="host:port of rank 0, with --rank")
    a = p.parse_args()
    if a.rank >= 0:
        if not a.master or not 0 <= a.rank < a.world:
            p.error("--rank needs --master host:port and 0 <= rank < world")
        out = SimpleQueue()
        run(a.rank, a.world, a.n, a.iters, a.master, out)
        if a.rank != 0:
            return
        times = out.get()
    else:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        master = f"127.0.0.1:{free_port()}"
        procs = [ctx.Process(target=run,
                             args=(r, a.world, a.n, a.iters, master, out))
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
