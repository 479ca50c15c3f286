"""Whole jobs through cddp-launch with Python workers: two Python workers
train and end bit-identical to the servers; a job of one Python and one C++
worker ends bit-identical to a job of two C++ workers fed the same
gradients; the converted example script trains MNIST."""
import os
import re

import pytest

from conftest import BUILD, DATA, PYTHON, ROOT, launch

HERE = os.path.dirname(os.path.abspath(__file__))
CC_WORKER = os.path.join(BUILD, "tests", "cddp_fixed_gradients")
IDENTICAL = ("workers' final parameters identical: yes; "
             "equal to the servers': yes")


def test_two_python_workers_train_bit_identical_to_the_servers():
    code, out = launch(
        ["--num_servers=2", "--num_workers=2", "--lr=0.2", "--momentum=0",
         "--downlink=sparse", "--ratio=0.1", "--min_compress_numel=0"],
        [PYTHON, os.path.join(HERE, "tiny_job.py")])
    assert code == 0, out
    assert IDENTICAL in out, out
    losses = re.findall(r"first loss ([0-9.]+) last loss ([0-9.]+)", out)
    assert len(losses) == 2, out
    for first, last in losses:
        assert float(last) < 0.7 * float(first), out


def crcs(out):
    return re.findall(r"params crc32 ([0-9a-f]{8})", out)


def test_a_python_and_a_cpp_worker_end_like_two_cpp_workers():
    args = ["--num_servers=2", "--num_workers=2", "--lr=0.1", "--momentum=0",
            "--downlink=sparse", "--ratio=0.1", "--min_compress_numel=0"]
    code, cc_only = launch(args, [CC_WORKER])
    assert code == 0, cc_only
    mixed_worker = ('if [ "$RANK" = 0 ]; then exec "$0" "$1"; '
                    'else exec "$2"; fi')
    code, mixed = launch(args, ["/bin/sh", "-c", mixed_worker, PYTHON,
                                os.path.join(HERE, "fixed_gradients.py"),
                                CC_WORKER])
    assert code == 0, mixed
    assert IDENTICAL in mixed, mixed
    assert len(crcs(cc_only)) == 2 and len(set(crcs(cc_only))) == 1, cc_only
    assert crcs(mixed) == crcs(cc_only), mixed


def test_the_converted_example_trains_mnist():
    mnist = os.path.join(DATA, "mnist")
    if not os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte")):
        pytest.skip(f"no MNIST in {mnist} (scripts/setup.sh)")
    code, out = launch(
        ["--num_servers=2", "--num_workers=2", "--lr=0.05", "--momentum=0",
         "--downlink=sparse", "--dgc_momentum=0.9"],
        [PYTHON, os.path.join(ROOT, "examples", "pytorch", "mnist_cddp.py"),
         f"--data={mnist}", "--max_steps=100"])
    assert code == 0, out
    assert IDENTICAL in out, out
    accuracy = re.search(r"final test accuracy: ([0-9.]+)%", out)
    assert accuracy and float(accuracy.group(1)) > 80, out
