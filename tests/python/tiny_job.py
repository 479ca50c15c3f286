"""A small Python job for test_jobs.py: an MLP on a fixed synthetic
classification set, this worker's half of it, 60 steps through
cddp.ParameterSync. Prints the first and last training loss."""
import sys

import torch
import torch.nn.functional as F

import cddp


def main():
    torch.manual_seed(0)
    x = torch.randn(2048, 20)
    y = (x[:, :5].sum(1) > 0).long() + 2 * (x[:, 5] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 4))
    sync = cddp.ParameterSync(model)
    w, n = sync.options.worker_id, sync.options.num_workers
    x, y = x[w::n], y[w::n]
    losses = []
    for step in range(60):
        batch = slice((step * 32) % len(x), (step * 32) % len(x) + 32)
        model.zero_grad()
        loss = F.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        stats = sync.step()
        if stats.push_error:
            sys.exit(f"push failed: {stats.push_error}")
        losses.append(loss.item())
    print(f"first loss {sum(losses[:5]) / 5:.4f} last loss {sum(losses[-5:]) / 5:.4f}")
    if not sync.finish(final_loss=losses[-1]):
        sys.exit("parameters differ from the servers'")


if __name__ == "__main__":
    main()
