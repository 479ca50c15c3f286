#!/usr/bin/python3
"""DDP's step with an emulated GPU, for bench/netns_cluster.py's comm
workload with --compute_ms: what DistributedDataParallel does with a model
of --n fp32 parameters whose forward and backward take --compute_ms on a GPU
the benchmark machine does not have. One rank per host, gloo.

The schedule is DDP's: the gradient is split into buckets of --bucket_mb
(DDP's default 25 MB; the first bucket DDP fills is the last layers'), the
forward pass takes a third of the compute time, and the backward pass the
rest, spread over the buckets by size; each bucket's all_reduce starts
(asynchronously, as DDP's reducer does) as soon as the backward pass has
produced it, so communication overlaps the rest of the backward pass; the
step ends when the last all_reduce is done. Compute is a sleep, so the host's
CPU stays free, as it would with the work on a GPU.

  GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 bench/ddp_emulated.py \\
      --world 4 --rank R --master 10.77.0.3:29500 --n 11173962 --compute_ms 30

Prints "result rank=R steps=N step_ms_median=M".
"""
import argparse
import statistics
import time

import torch
import torch.distributed as dist


def buckets(n, bucket_floats):
    """DDP's buckets for n floats, in the order backward produces them."""
    sizes = []
    while n > 0:
        sizes.append(min(n, bucket_floats))
        n -= sizes[-1]
    return sizes


def step(grads, compute_s):
    forward_s = compute_s / 3
    time.sleep(forward_s)
    total = sum(g.numel() for g in grads)
    works = []
    for g in grads:
        time.sleep((compute_s - forward_s) * g.numel() / total)
        works.append(dist.all_reduce(g, async_op=True))
    for w in works:
        w.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--master", required=True, help="host:port of rank 0")
    p.add_argument("--n", type=int, default=11_173_962,
                   help="parameters (default: CIFAR ResNet-18's)")
    p.add_argument("--compute_ms", type=float, default=30)
    p.add_argument("--bucket_mb", type=float, default=25)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    if not 0 <= a.rank < a.world or a.steps < 1 or a.compute_ms < 0:
        p.error("need 0 <= rank < world, --steps >= 1, --compute_ms >= 0")
    dist.init_process_group("gloo", init_method=f"tcp://{a.master}",
                            rank=a.rank, world_size=a.world)
    grads = [torch.ones(size) for size in
             buckets(a.n, int(a.bucket_mb * 1024 * 1024 / 4))]
    times = []
    for i in range(a.warmup + a.steps):
        dist.barrier()
        start = time.perf_counter()
        step(grads, a.compute_ms / 1e3)
        if i >= a.warmup:
            times.append((time.perf_counter() - start) * 1e3)
    print(f"result rank={a.rank} steps={len(times)} "
          f"step_ms_median={statistics.median(times):.3f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
