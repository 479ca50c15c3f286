"""examples/pytorch/mnist.py converted to compressed-ddp: each worker trains
on its share of the data and ParameterSync exchanges Top-K gradients with the
parameter servers, which run the optimizer (cddp-launch's --lr, --momentum;
or DGC momentum on the workers with --dgc_momentum).

    cddp-launch --tls_dir=build/certs --num_workers=2 --lr=0.05 \
      --momentum=0 --downlink=sparse --dgc_momentum=0.9 \
      -- /usr/bin/python3 examples/pytorch/mnist_cddp.py

(scripts/make_certs.sh build/certs makes the certificates; or --plaintext.)
"""
import argparse
import gzip
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import cddp


def read_idx(path):
    """An MNIST IDX file (raw or .gz) as a uint8 tensor."""
    if not os.path.exists(path):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    return torch.from_numpy(array.reshape(dims).copy())


def load(data_dir, split):
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte"))
    images = (images.float().unsqueeze(1) / 255 - 0.1307) / 0.3081
    return torch.utils.data.TensorDataset(images, labels.long())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.dropout(x, 0.25, self.training)
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), 0.5, self.training)
        return self.fc2(x)


def evaluate(model, test):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test, batch_size=1000):
            correct += (model(x).argmax(1) == y).sum().item()
    model.train()
    return correct / len(test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_steps", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(1)
    train, test = load(args.data, "train"), load(args.data, "t10k")
    model = Net()
    sync = cddp.ParameterSync(model)  # the role comes from cddp-launch
    sampler = torch.utils.data.DistributedSampler(
        train, sync.options.num_workers, sync.options.worker_id, seed=1)
    loader = torch.utils.data.DataLoader(train, args.batch_size, sampler=sampler)
    step = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            sync.step()
            step += 1
            if step % 100 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f}")
            if step == args.max_steps:
                break
    accuracy = evaluate(model, test)
    print(f"test accuracy {100 * accuracy:.2f}%")
    sync.finish(test_accuracy=accuracy, final_loss=loss.item())


if __name__ == "__main__":
    main()
