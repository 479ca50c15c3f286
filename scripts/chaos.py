#!/usr/bin/python3
"""Chaos run of a whole job: cddp-launch trains under random kill -9s of
its servers and workers and one SIGSTOP of a worker for longer than the
round timeout, and must finish unattended, every shard at one step.

  scripts/chaos.py                      W=4, S=2, SimpleCNN, one MNIST epoch,
                                        5 kills, plus the undisturbed run of
                                        the same seed for the accuracy gap
  scripts/chaos.py --train_limit=6400 --kills=2 --no-baseline   (the test)

It reads the processes' /metrics while the job runs (summing counters over
restarts) and prints one report: the faults it caused, the restarts, the
rounds each shard lost to a resume (the documented window: at most the
rounds since that shard's last checkpoint), pushes counted, repeats answered
and conflicting pushes refused, and the final accuracy against the baseline.
Exit status 0 when the job finished, its shards agree and, with a baseline,
the accuracy is within --max_gap_pp of it.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    p.add_argument("--data_dir", default=os.path.join(ROOT, "data"))
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--servers", type=int, default=2)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--train_limit", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--chaos_seed", type=int, default=7)
    p.add_argument("--checkpoint_every", type=int, default=10)
    p.add_argument("--round_timeout_s", type=float, default=5)
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction,
                   default=True, help="also run the job undisturbed")
    p.add_argument("--max_gap_pp", type=float, default=0.3)
    p.add_argument("--timeout_s", type=float, default=3600)
    return p.parse_args()


class Job:
    """One cddp-launch run; its output lines are collected by a thread."""

    def __init__(self, args, checkpoint_dir):
        self.args = args
        cmd = [os.path.join(args.build, "deploy", "local", "cddp-launch"),
               f"--num_servers={args.servers}", f"--num_workers={args.workers}",
               "--plaintext",
               "--model=simple_cnn", "--dataset=mnist",
               f"--data_dir={args.data_dir}", f"--epochs={args.epochs}",
               f"--train_limit={args.train_limit}", f"--seed={args.seed}",
               f"--checkpoint_dir={checkpoint_dir}",
               f"--checkpoint_every={args.checkpoint_every}",
               f"--round_timeout={args.round_timeout_s}s",
               f"--max_restarts={args.kills + 5}", "--restart_delay_ms=300",
               "--reconnect_timeout_s=120", "--progress_every=5",
               "--eval_limit=10000"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     bufsize=1)
        self.lines = []
        self.step = 0
        self.total = 0
        self.endpoints = {}  # "server 0" -> url
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            m = re.search(r"step (\d+)/(\d+)", line)
            if m:
                self.step = max(self.step, int(m.group(1)))
                self.total = int(m.group(2))
            m = re.match(r"\[launch\] metrics (\w+ \d+): (http://\S+)", line)
            if m:
                self.endpoints[m.group(1)] = m.group(2)

    def children(self):
        """{"server 0": pid, "worker 1": pid} of the live processes."""
        found = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/cmdline") as f:
                    argv = f.read().split("\0")
            except (OSError, ValueError, IndexError):
                continue
            for a in argv:
                m = re.match(r"--(shard_index|worker_id)=(\d+)", a)
                if m:
                    kind = "server" if m.group(1) == "shard_index" else "worker"
                    found[f"{kind} {m.group(2)}"] = int(pid)
        return found


class Counters:
    """Counters summed over process restarts (a drop means a new process)."""

    def __init__(self):
        self.last = {}
        self.total = {}
        self.gauges = {}

    def scrape(self, name, url):
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            series, value = line.rsplit(" ", 1)
            try:
                v = float(value)
            except ValueError:
                continue
            key = (name, series)
            if series.startswith("cddp_server_step"):
                self.gauges[key] = v
                continue
            prev = self.last.get(key, 0.0)
            self.total[key] = self.total.get(key, 0.0) + (
                v - prev if v >= prev else v)
            self.last[key] = v

    def sum(self, prefix):
        return sum(v for (_, s), v in self.total.items() if s.startswith(prefix))


def run(args, chaos):
    ckpt = tempfile.mkdtemp(prefix="cddp-chaos-")
    job = Job(args, ckpt)
    rng = random.Random(args.chaos_seed)
    counters = Counters()
    faults = []
    kill_at, stop_at, planned = [], None, False
    deadline = time.time() + args.timeout_s
    while job.proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
        for name, url in list(job.endpoints.items()):
            counters.scrape(name, url)
        if not chaos or job.total == 0:
            continue
        if not planned:
            # Spread the faults over the job, after its first checkpoints.
            planned = True
            lo, hi = max(2 * args.checkpoint_every, job.total // 10), \
                job.total * 8 // 10
            kill_at = sorted(rng.randint(lo, max(lo, hi))
                             for _ in range(args.kills))
            stop_at = rng.randint(lo, max(lo, hi))
        live = job.children()
        if kill_at and kill_at[0] <= job.step and \
                len(live) == args.servers + args.workers:
            kill_at.pop(0)
            victim = rng.choice(sorted(live))
            os.kill(live[victim], signal.SIGKILL)
            faults.append(f"step {job.step}: kill -9 {victim}")
        if stop_at is not None and stop_at <= job.step:
            stop_at = None
            workers = sorted(k for k in live if k.startswith("worker"))
            if workers:
                victim = rng.choice(workers)
                pause = args.round_timeout_s + 5
                os.kill(live[victim], signal.SIGSTOP)
                faults.append(f"step {job.step}: SIGSTOP {victim} for "
                              f"{pause:g} s")
                threading.Timer(pause, os.kill,
                                (live[victim], signal.SIGCONT)).start()
    if job.proc.poll() is None:
        job.proc.kill()
    job.proc.wait()
    job.reader.join(timeout=5)
    shutil.rmtree(ckpt, ignore_errors=True)
    return job, counters, faults


def accuracy(job):
    for line in job.lines:
        m = re.match(r"final test accuracy: ([\d.]+)%", line)
        if m:
            return float(m.group(1))
    return None


def report(job, counters, faults):
    text = "\n".join(job.lines)
    restarts = re.search(r"restarts: (\d+)", text)
    lost = []
    for line in job.lines:
        m = re.search(r"\[server (\d+)\].*resumed from checkpoint .* at step "
                      r"(\d+)", line)
        if m:
            lost.append(f"shard {m.group(1)} resumed at step {m.group(2)}")
    print(f"  exit status {job.proc.returncode}; restarts "
          f"{restarts.group(1) if restarts else 0}")
    for f in faults:
        print(f"  fault: {f}")
    for l in lost:
        print(f"  {l}")
    sums = {label: counters.sum(prefix) for label, prefix in (
        ("pushes counted", "cddp_server_pushes_counted_total"),
        ("repeats answered", 'cddp_server_pushes_total{outcome="duplicate"'),
        ("conflicting refused",
         'cddp_server_rejected_requests_total{reason="conflicting_push"'),
        ("late", 'cddp_server_pushes_total{outcome="late"'),
        ("leases revoked", "cddp_server_leases_revoked_total"))}
    print("  " + ", ".join(f"{k} {v:.0f}" for k, v in sums.items()))
    print(f"  final accuracy {accuracy(job)} %")
    for line in job.lines:
        if re.search(r"\[worker 0\] cddp-worker 0: finished", line) or \
                line.startswith(("workers' final parameters", "wall time")):
            print(f"  {line}")
    return "DIFFERENT steps" not in text


def main():
    args = parse_args()
    mnist = os.path.join(args.data_dir, "mnist")
    if not any(os.path.exists(os.path.join(mnist, "train-labels-idx1-ubyte" + z))
               for z in ("", ".gz")):
        print(f"chaos: SKIP, no MNIST in {mnist} (run scripts/setup.sh)")
        return 77
    print(f"chaos: W={args.workers} S={args.servers}, {args.kills} kills + 1 "
          f"SIGSTOP, seed {args.seed}", flush=True)
    job, counters, faults = run(args, chaos=True)
    agree = report(job, counters, faults)
    ok = job.proc.returncode == 0 and agree and len(faults) >= args.kills
    if not ok:
        print("\n".join(job.lines[-60:]))
    if args.baseline:
        print("baseline (undisturbed, same seed):", flush=True)
        base, base_counters, _ = run(args, chaos=False)
        report(base, base_counters, [])
        a, b = accuracy(job), accuracy(base)
        if a is None or b is None or abs(a - b) > args.max_gap_pp:
            ok = False
        print(f"accuracy gap {a} vs {b}: "
              f"{'within' if ok else 'NOT within'} {args.max_gap_pp} pp")
    print("chaos: PASS" if ok else "chaos: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
