#!/usr/bin/python3
"""The end-to-end baseline of bench/netns_cluster.py's train workload:
PyTorch DistributedDataParallel over gloo, one process per host, SGD with
momentum 0.9, training either the SimpleCNN of examples/pytorch/mnist.py
(the same network as cddp-worker's simple_cnn) on this rank's share of
MNIST, or the CIFAR ResNet-18 of bench/resnet_cifar.py (cddp-worker's
resnet18) on random CIFAR-shaped batches (for timing only: the step's work
does not depend on the pixels).

  GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 bench/ddp_train.py \\
      --world 4 --rank R --master 10.77.0.3:29500 --steps 60 \\
      [--model resnet18]

Prints one line:
  result rank=R steps=N steady_seconds=S grad_bytes=B
where steady_seconds runs from the end of the first step to the end of the
last (as cddp-worker's result file has it), and grad_bytes is the gradient
DDP all-reduces every step.
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "pytorch"))
from mnist import Net, load  # noqa: E402
from resnet_cifar import ResNet18  # noqa: E402


def cifar_shaped(count, seed):
    """`count` random 3x32x32 images and labels (timing only)."""
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.TensorDataset(
        torch.randn(count, 3, 32, 32, generator=g),
        torch.randint(0, 10, (count,), generator=g))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--master", required=True, help="host:port of rank 0")
    p.add_argument("--model", choices=["simple_cnn", "resnet18"],
                   default="simple_cnn")
    p.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"),
                   help="MNIST's directory (simple_cnn)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads")
    a = p.parse_args()
    if not 0 <= a.rank < a.world or a.steps < 2:
        p.error("need 0 <= rank < world and --steps >= 2")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dist.init_process_group("gloo", init_method=f"tcp://{a.master}",
                            rank=a.rank, world_size=a.world)
    if a.model == "resnet18":
        mine = cifar_shaped(a.steps * a.batch_size, a.rank)
    else:
        train = load(a.data, "train")
        mine = torch.utils.data.Subset(
            train, range(a.rank, len(train), a.world))
    loader = torch.utils.data.DataLoader(
        mine, a.batch_size, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(a.rank))
    model = DistributedDataParallel(
        ResNet18() if a.model == "resnet18" else Net())
    optimizer = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    grad_bytes = sum(p.numel() * 4 for p in model.parameters())
    step, first_end = 0, None
    while step < a.steps:
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            step += 1
            if first_end is None:
                first_end = time.perf_counter()
            if step == a.steps:
                break
    steady = time.perf_counter() - first_end
    print(f"result rank={a.rank} steps={step} steady_seconds={steady:.6f} "
          f"grad_bytes={grad_bytes}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
