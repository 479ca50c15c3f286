#!/usr/bin/python3
"""Plots bench/netns_cluster.py results (its --json file, one JSON object a
line) as two PNGs: the round time against W per link rate, with gloo
all_reduce dashed, and our speed-up over all_reduce against W. Only rows of
one density and downlink (the flags) are plotted; needs python3-matplotlib.

  bench/plot_netns.py results/netns_comm.jsonl --out results/netns_comm
"""
import argparse
import collections
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rate_bits(rate):
    """'100mbit' -> 1e8, for ordering the lines by link rate."""
    for unit, scale in (("kbit", 1e3), ("mbit", 1e6), ("gbit", 1e9)):
        if rate.endswith(unit):
            return float(rate[:-len(unit)]) * scale
    return 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("jsonl")
    p.add_argument("--out", required=True, help="PNG path prefix")
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--downlink", default="sparse")
    p.add_argument("--shards", type=int, default=2)
    a = p.parse_args()
    rows = [json.loads(line) for line in open(a.jsonl) if line.strip()]
    rows = [r for r in rows if r.get("density") == a.density and
            r.get("downlink") == a.downlink and r.get("shards") == a.shards]
    if not rows:
        p.error("no rows with that density, downlink and shard count")
    by_rate = collections.defaultdict(dict)
    for r in rows:  # the last run of a configuration wins
        by_rate[r["rate"]][r["workers"]] = r
    title = (f"{rows[0]['size'] / 1e6:g} M floats, density {a.density:g}, "
             f"{a.downlink} downlink, S = {a.shards}")

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for rate in sorted(by_rate, key=rate_bits):
        runs = by_rate[rate]
        ws = sorted(runs)
        line, = ax.plot(ws, [runs[w]["round_ms_median"] for w in ws], "o-",
                        label=f"cddp {rate}")
        gw = [w for w in ws if "gloo_ms_median" in runs[w] and w > 1]
        if gw:
            ax.plot(gw, [runs[w]["gloo_ms_median"] for w in gw], "s--",
                    color=line.get_color(), label=f"gloo all_reduce {rate}")
    ax.set(xlabel="workers W", ylabel="round time, median (ms)",
           yscale="log", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out + "_step_time.png", dpi=110)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for rate in sorted(by_rate, key=rate_bits):
        runs = by_rate[rate]
        ws = [w for w in sorted(runs) if "speedup_vs_gloo" in runs[w] and w > 1]
        ax.plot(ws, [runs[w]["speedup_vs_gloo"] for w in ws], "o-", label=rate)
    ax.set(xlabel="workers W", ylabel="speed-up over gloo all_reduce (×)",
           title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out + "_speedup.png", dpi=110)


if __name__ == "__main__":
    main()
