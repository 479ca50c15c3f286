"""One worker of the mixed-job test (test_mixed_job.py), in Python: the
same model, initial values and gradients as fixed_gradients.cc, so a job of
one Python and one C++ worker must end bit-identical to a job of two C++
workers. Every value is a small dyadic fraction, exact in float32 in both
languages. Prints "params crc32 XXXXXXXX" (zlib CRC-32 of the parameters'
bytes, in order) at the end."""
import sys
import zlib

import torch

import cddp

STEPS = 20


def exact(n, a, b):
    """((i * a + b) % 23 - 11) / 8 for i in [0, n): exact in float32."""
    i = torch.arange(n, dtype=torch.int64)
    return (((i * a + b) % 23) - 11).to(torch.float32) / 8


def main():
    weight = torch.nn.Parameter(exact(50 * 40, 3, 1).reshape(50, 40))
    bias = torch.nn.Parameter(exact(40, 5, 2))
    sync = cddp.ParameterSync([("weight", weight), ("bias", bias)])
    worker = sync.options.worker_id
    for _ in range(STEPS):
        step = sync.step_count
        weight.grad = exact(50 * 40, 7, step * 11 + worker * 5).reshape(50, 40)
        bias.grad = exact(40, 13, step * 3 + worker)
        stats = sync.step()
        if stats.push_error:
            sys.exit(f"push failed: {stats.push_error}")
    if not sync.finish():
        sys.exit("parameters differ from the servers'")
    crc = zlib.crc32(weight.detach().numpy().tobytes())
    crc = zlib.crc32(bias.detach().numpy().tobytes(), crc)
    print(f"params crc32 {crc:08x}")


if __name__ == "__main__":
    main()
