"""The Python twin of `cddp-worker --model=simple_cnn --dataset=mnist` for
bench/python_overhead.sh: the same network (conv 32, conv 64, max-pool,
dropout, fc 128, fc 10), the same normalisation, batch and share of the
data, trained through cddp.ParameterSync, and a progress line in
cddp-worker's format ("[worker N] epoch E step S/T  X samples/s ...")
every 20 steps. Batches are taken by indexing the whole tensors (no
per-sample DataLoader), as cddp-worker does.

    cddp-launch --num_workers=2 -- /usr/bin/python3 bench/python_worker.py \
      --data=data/mnist --max_steps=300
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples",
                                "pytorch"))
from mnist import Net, load  # noqa: E402  (the example's network and reader)

import cddp  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_steps", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(1)
    train = load(args.data, "train")
    images, labels = train.tensors
    model = Net()
    sync = cddp.ParameterSync(model)
    w, n = sync.options.worker_id, sync.options.num_workers
    mine = torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))[w::n]
    per_epoch = (len(mine) + args.batch_size - 1) // args.batch_size
    tick, samples = time.monotonic(), 0
    while sync.step_count < args.max_steps:
        step = sync.step_count
        b = step % per_epoch
        idx = mine[b * args.batch_size:(b + 1) * args.batch_size]
        model.zero_grad()
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        loss.backward()
        sync.step()
        samples += len(idx)
        if sync.step_count % 20 == 0:
            now = time.monotonic()
            print(f"[worker {w}] epoch {step // per_epoch} step "
                  f"{sync.step_count}/{args.max_steps}  "
                  f"{samples / (now - tick):.0f} samples/s  loss {loss.item():.4f}",
                  flush=True)
            tick, samples = now, 0
    sync.finish(final_loss=loss.item())


if __name__ == "__main__":
    main()
