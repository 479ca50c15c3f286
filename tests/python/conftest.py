"""Fixtures for the Python package's tests (run by ctest as python_cddp,
with CDDP_BUILD_DIR set and <build>/python on PYTHONPATH): real cddp-server
processes on loopback, and cddp-launch jobs."""
import os
import socket
import subprocess
import sys

import pytest

BUILD = os.environ.get("CDDP_BUILD_DIR", "build/default")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(BUILD, "server", "cddp-server")
LAUNCH = os.path.join(BUILD, "deploy", "local", "cddp-launch")
DATA = os.path.join(ROOT, "data")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """One shard for one worker: plain SGD at lr 0.5, sparse downlink.
    Yields its address."""
    address = f"127.0.0.1:{free_port()}"
    p = subprocess.Popen(
        [SERVER, f"--listen={address}", "--plaintext", "--num_shards=1",
         "--shard_index=0",
         "--num_workers=1", "--lr=0.5", "--downlink=sparse"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield address
    p.kill()
    p.wait()


@pytest.fixture
def tls_server(tmp_path):
    """The same shard serving mutual TLS with certificates from
    scripts/make_certs.sh. Yields (address, the certificates' folder)."""
    certs = tmp_path / "certs"
    subprocess.run([os.path.join(ROOT, "scripts", "make_certs.sh"), str(certs),
                    "--servers", "1", "--workers", "2"],
                   check=True, stdout=subprocess.DEVNULL)
    address = f"127.0.0.1:{free_port()}"
    p = subprocess.Popen(
        [SERVER, f"--listen={address}", f"--tls_cert={certs}/server-0.crt",
         f"--tls_key={certs}/server-0.key", f"--tls_ca={certs}/ca.crt",
         "--num_shards=1", "--shard_index=0", "--num_workers=1", "--lr=0.5",
         "--downlink=sparse"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield address, certs
    p.kill()
    p.wait()


def launch(args, command, timeout=300):
    """Runs cddp-launch with `args` and `command` as the workers; returns
    (exit code, output)."""
    env = dict(os.environ)
    r = subprocess.run(
        [LAUNCH, "--nometrics", "--plaintext", "--round_timeout=60s", *args, "--", *command],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, env=env)
    return r.returncode, r.stdout


PYTHON = sys.executable
