#!/usr/bin/python3
"""A cluster of hosts on one machine: every parameter server and every
worker runs in its own Linux network namespace, joined by a veth pair to a
bridge, each host's link shaped with tc (a token bucket for the rate in both
directions, netem for the one-way delay where the kernel has it). Needs
root; without it (or without namespaces) it says so and exits 77.

  bench/netns_cluster.py check --rates=1gbit
      build the cluster, measure each link with a raw TCP copy, tear down
  bench/netns_cluster.py comm --rates=100mbit,1gbit --workers=4 --shards=2
      communication only: cddp-server on each shard host, cddp_push_load on
      each worker host pushing a --size-float gradient at each --densities
      entry per step (emulated compute: --compute_ms), then gloo all_reduce
      of the same floats between the worker hosts (--gloo, the baseline);
      with --compute_ms also DDP's step with the same emulated compute
      (bench/ddp_emulated.py: DDP's buckets, all_reduce overlapping the
      backward pass)
  bench/netns_cluster.py train --rates=100mbit,1gbit --workers=4 --shards=2
      end to end: cddp-worker training SimpleCNN on MNIST (or with
      --model=resnet18 the CIFAR ResNet-18 on synthetic CIFAR-shaped data)
      for --steps steps at each --densities entry (DGC momentum on the
      workers, plain SGD and the sparse downlink on the servers), then
      PyTorch DDP over gloo on the same model and batch in the same hosts
      (bench/ddp_train.py)

Lists (comma-separated) sweep: one cluster per (rate, W, S). Each run prints
one line "result {json}" and, with --json=FILE, appends that JSON to FILE.
Everything it made (namespaces, links, processes) is removed at the end, on
Ctrl-C and on failure. Nothing but the namespaces is touched: the bridge
lives in a namespace of its own.
"""
import argparse
import json
import shutil
import os
import signal
import statistics
import sys
import tempfile

from netns_hosts import Cluster, can_make_namespaces, measure_link, rate_bits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 77
SERVER_PORT = 50051
GLOO_PORT = 29500


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("workload", choices=["check", "comm", "train"])
    p.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    p.add_argument("--rates", default="1gbit",
                   help="link rates to sweep, e.g. 100mbit,1gbit,10gbit")
    p.add_argument("--delay_ms", type=float, default=0.1,
                   help="one-way delay a host adds to what it sends")
    p.add_argument("--workers", default="4", help="W values to sweep")
    p.add_argument("--shards", default="2", help="S values to sweep")
    p.add_argument("--size", type=int, default=25_600_000, help="floats")
    p.add_argument("--densities", default="0.01", help="push densities")
    p.add_argument("--downlinks", default="sparse",
                   help="server --downlink modes: dense,sparse,compressed")
    p.add_argument("--server_flags", default="",
                   help="more cddp-server flags, space-separated (e.g. "
                        "'--downlink_density=0.01 --downlink_value_type=bf16')")
    p.add_argument("--rounds", type=int, default=10, help="measured rounds")
    p.add_argument("--warmup", type=int, default=1, help="rounds left out")
    p.add_argument("--compute_ms", type=float, default=0,
                   help="emulated compute per step before the push")
    p.add_argument("--overlap_parts", type=int, default=0,
                   help="comm with --compute_ms: hand the push over in this "
                   "many parts during the emulated backward pass (0: after)")
    p.add_argument("--worker_flags", default="",
                   help="train: extra cddp-worker flags, e.g. "
                   "--overlap_backward")
    p.add_argument("--gloo", action=argparse.BooleanOptionalAction,
                   default=True, help="run the gloo all_reduce baseline")
    p.add_argument("--gloo_iters", type=int, default=5)
    p.add_argument("--check_links", action=argparse.BooleanOptionalAction,
                   default=True, help="measure a link before each workload")
    p.add_argument("--steps", type=int, default=60, help="train: steps")
    p.add_argument("--batch_size", type=int, default=64, help="train: batch")
    p.add_argument("--model", choices=["simple_cnn", "resnet18"],
                   default="simple_cnn",
                   help="train: simple_cnn on MNIST, or the CIFAR ResNet-18 "
                        "on synthetic CIFAR-shaped data (timing only)")
    p.add_argument("--json", default="", help="append results to this file")
    p.add_argument("--timeout_s", type=float, default=1800,
                   help="per workload run")
    return p.parse_args(argv)


def binary(args, *parts):
    path = os.path.join(args.build, *parts)
    if not os.access(path, os.X_OK):
        sys.exit(f"netns_cluster: {path} not found; build first "
                 f"(cmake --build --preset default) or pass --build")
    return path


def parse_result(line):
    """'result k=v k=v' -> dict of floats (and ints where whole)."""
    out = {}
    for item in line.split()[1:]:
        key, value = item.split("=", 1)
        out[key] = float(value)
    return out


def run_comm(args, cluster, workers, shards, density, downlink):
    """One communication-only run; returns the result dict."""
    load = binary(args, "bench", "cddp_push_load")
    addresses = start_servers(args, cluster, workers, shards,
                              ["--optimizer=sgd", "--lr=0.001",
                               f"--downlink={downlink}"])
    loads = [cluster.start(shards + w, [
        load, f"--servers={addresses}", f"--worker_id={w}",
        f"--num_workers={workers}", f"--size={args.size}",
        f"--density={density}", f"--rounds={args.rounds + args.warmup}",
        f"--warmup={args.warmup}", f"--compute_ms={args.compute_ms}",
        f"--report_every={args.rounds + args.warmup}",
        f"--overlap_parts={args.overlap_parts}"]) for w in range(workers)]
    results = result_lines(args, loads, "cddp_push_load")
    cluster.stop_processes()
    return {
        "round_ms_median": statistics.median(
            r["round_ms_median"] for r in results),
        "step_ms_median": statistics.median(
            r["step_ms_median"] for r in results),
        "round_ms_p99_max": max(r["round_ms_p99"] for r in results),
    }


def start_servers(args, cluster, workers, shards, flags):
    """cddp-server on hosts 0..shards-1; returns "ip:port,..." once all serve."""
    server = binary(args, "server", "cddp-server")
    servers = [cluster.start(s, [
        server, f"--listen=0.0.0.0:{SERVER_PORT}", "--plaintext",
        f"--shard_index={s}",
        f"--num_shards={shards}", f"--num_workers={workers}",
        "--metrics_listen=", "--round_timeout=600s", "--reply_timeout=600s"]
        + flags + args.server_flags.split()) for s in range(shards)]
    for s, proc in enumerate(servers):
        for line in proc.stdout:
            if "serving on port" in line:
                break
        else:
            raise RuntimeError(f"server {s} exited before serving")
    return ",".join(f"{cluster.ip(s)}:{SERVER_PORT}" for s in range(shards))


def run_train(args, cluster, workers, shards, density):
    """cddp-worker vs DDP on --model; returns the result dict."""
    worker = binary(args, "worker", "cddp-worker")
    addresses = start_servers(args, cluster, workers, shards,
                              ["--optimizer=sgd", "--lr=0.05",
                               "--downlink=sparse"])
    results_dir = tempfile.mkdtemp(prefix="netns_train")
    # resnet18: an empty data directory, so the worker trains on its
    # synthetic CIFAR-shaped set (it says so) whatever data/ holds.
    data_dir = (results_dir if args.model == "resnet18"
                else os.path.join(ROOT, "data"))
    try:
        procs = [cluster.start(shards + w, [
            worker, f"--servers={addresses}", "--plaintext",
            f"--worker_id={w}",
            f"--num_workers={workers}", f"--model={args.model}",
            f"--dataset={'cifar10' if args.model == 'resnet18' else 'mnist'}",
            f"--data_dir={data_dir}",
            f"--batch_size={args.batch_size}", f"--max_steps={args.steps}",
            f"--ratio={density}", "--dgc_momentum=0.9", "--threads=1",
            "--eval_limit=100", "--metrics_listen=",
            f"--result_file={results_dir}/{w}"] + args.worker_flags.split())
            for w in range(workers)]
        steady = []
        for w, proc in enumerate(procs):
            out, _ = proc.communicate(timeout=args.timeout_s)
            if proc.returncode != 0:
                raise RuntimeError(f"cddp-worker {w} failed:\n{out}")
            kv = dict(l.split("=", 1) for l in
                      open(f"{results_dir}/{w}").read().split("\n") if l)
            steps = int(kv["steps"])
            steady.append(float(kv["steady_seconds"]) / (steps - 1))
            if w == 0:
                up = int(kv["uplink_wire_bytes"]) / steps
                down = int(kv["downlink_bytes"]) / steps
    finally:
        shutil.rmtree(results_dir, ignore_errors=True)
    cluster.stop_processes()
    record = {"cddp_step_ms_median": round(statistics.median(steady) * 1e3, 3),
              "cddp_uplink_bytes_per_step": round(up),
              "cddp_downlink_bytes_per_step": round(down)}
    if workers > 1 and args.gloo:
        ddp = run_ddp(args, cluster, workers, shards)
        record.update(ddp)
        record["speedup_vs_ddp"] = round(
            ddp["ddp_step_ms_median"] / record["cddp_step_ms_median"], 2)
    return record


def start_ranks(args, cluster, workers, shards, script, flags):
    """One rank of a torch.distributed `script` (bench/) on each worker
    host, rank 0's host the rendezvous, gloo on eth0."""
    env = dict(os.environ, GLOO_SOCKET_IFNAME="eth0")
    master = f"{cluster.ip(shards)}:{GLOO_PORT}"
    return [cluster.start(shards + w, [
        "/usr/bin/python3", os.path.join(ROOT, "bench", script),
        f"--world={workers}", f"--rank={w}", f"--master={master}"] + flags,
        env=env) for w in range(workers)]


def result_lines(args, procs, what):
    """Waits for `procs`; the parsed last "result ..." line of each."""
    results = []
    for i, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=args.timeout_s)
        lines = [l for l in out.splitlines() if l.startswith("result ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{what} {i} failed ({proc.returncode}):\n{out}")
        results.append(parse_result(lines[-1]))
    return results


def run_ddp(args, cluster, workers, shards):
    """bench/ddp_train.py on the worker hosts; median step ms and bytes."""
    procs = start_ranks(args, cluster, workers, shards, "ddp_train.py",
                        [f"--steps={args.steps}",
                         f"--batch_size={args.batch_size}",
                         f"--model={args.model}"])
    results = result_lines(args, procs, "DDP rank")
    cluster.stop_processes()
    steady = [r["steady_seconds"] / (r["steps"] - 1) for r in results]
    grad_bytes = results[0]["grad_bytes"]
    # A ring all_reduce sends 2 (W - 1) / W of the gradient from each host.
    return {"ddp_step_ms_median": round(statistics.median(steady) * 1e3, 3),
            "ddp_bytes_sent_per_step": round(
                2 * (workers - 1) / workers * grad_bytes)}


def run_ddp_emulated(args, cluster, workers, shards):
    """DDP's step for --size floats and --compute_ms of emulated compute."""
    procs = start_ranks(args, cluster, workers, shards, "ddp_emulated.py",
                        [f"--n={args.size}", f"--compute_ms={args.compute_ms}",
                         f"--steps={args.rounds}", f"--warmup={args.warmup}"])
    results = result_lines(args, procs, "DDP (emulated) rank")
    cluster.stop_processes()
    return statistics.median(r["step_ms_median"] for r in results)


def run_gloo(args, cluster, workers, shards):
    """gloo all_reduce of --size floats between the worker hosts; median ms."""
    procs = start_ranks(args, cluster, workers, shards, "gloo_allreduce.py",
                        [f"--n={args.size}", f"--iters={args.gloo_iters}"])
    outs = [p.communicate(timeout=args.timeout_s)[0] for p in procs]
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError("gloo all_reduce failed:\n" + "\n".join(outs))
    cluster.stop_processes()
    for line in outs[0].splitlines():
        if line.startswith("gloo_allreduce_ms_median="):
            return float(line.split("=", 1)[1])
    raise RuntimeError("gloo all_reduce printed no median:\n" + outs[0])


def report(args, record):
    line = json.dumps(record, sort_keys=True)
    print("result " + line, flush=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")


def sweep(args, cluster_box):
    for rate in args.rates.split(","):
        rate_bits(rate)
        for w in map(int, args.workers.split(",")):
            for s in map(int, args.shards.split(",")):
                if args.workload == "check":
                    w, s = 1, 1
                cluster = Cluster(s + w, rate, args.delay_ms)
                cluster_box.append(cluster)
                cluster.up()
                base = {"rate": rate, "delay_ms": args.delay_ms if
                        cluster.delay_applied else 0, "workers": w,
                        "shards": s}
                if args.check_links or args.workload == "check":
                    up = measure_link(cluster, s, 0)
                    down = measure_link(cluster, 0, s)
                    base["link_up_mbit"] = round(up / 1e6, 1)
                    base["link_down_mbit"] = round(down / 1e6, 1)
                    print(f"link {rate}: worker->server {up / 1e6:.1f} Mbit/s,"
                          f" server->worker {down / 1e6:.1f} Mbit/s", flush=True)
                if args.workload == "check":
                    report(args, base)
                elif args.workload == "train":
                    for d in map(float, args.densities.split(",")):
                        r = dict(base, model=args.model, density=d,
                                 batch_size=args.batch_size, steps=args.steps,
                                 worker_flags=args.worker_flags)
                        r.update(run_train(args, cluster, w, s, d))
                        report(args, r)
                else:
                    # One rank's all_reduce moves nothing: no baseline.
                    gloo = (run_gloo(args, cluster, w, s)
                            if args.gloo and w > 1 else None)
                    ddp = (run_ddp_emulated(args, cluster, w, s)
                           if args.gloo and w > 1 and args.compute_ms > 0
                           else None)
                    for d in map(float, args.densities.split(",")):
                        for dl in args.downlinks.split(","):
                            r = dict(base, size=args.size, density=d,
                                     downlink=dl, compute_ms=args.compute_ms,
                                     rounds=args.rounds,
                                     overlap_parts=args.overlap_parts,
                                     server_flags=args.server_flags)
                            r.update(run_comm(args, cluster, w, s, d, dl))
                            if gloo is not None:
                                r["gloo_ms_median"] = gloo
                                r["speedup_vs_gloo"] = round(
                                    gloo / r["round_ms_median"], 2)
                            if ddp is not None:
                                r["ddp_step_ms_median"] = ddp
                                r["speedup_vs_ddp"] = round(
                                    ddp / r["step_ms_median"], 2)
                            report(args, r)
                cluster.down()
                cluster_box.remove(cluster)
                if args.workload == "check":
                    break
            if args.workload == "check":
                break


def main(argv):
    args = parse_args(argv)
    try:
        for rate in args.rates.split(","):
            rate_bits(rate)
    except ValueError as e:
        sys.exit(f"netns_cluster: --rates: {e}")
    why = can_make_namespaces()
    if why:
        print(f"netns_cluster: skipped: {why}", file=sys.stderr)
        return SKIP
    clusters = []

    def stop(signum, _frame):
        raise SystemExit(f"netns_cluster: signal {signum}; tearing down")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sweep(args, clusters)
    finally:
        for cluster in clusters:
            cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
