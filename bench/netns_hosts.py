"""The hosts of bench/netns_cluster.py: Linux network namespaces joined by
veth pairs to a bridge (in a namespace of its own), each host's link shaped
with tc (a token bucket for the rate; netem for the delay where the kernel
has it), processes started in a host, the raw-TCP check of a link, and the
probe that says whether this machine can build any of it. Root needed.

Run as `netns_hosts.py _sink PORT` / `_source HOST PORT BYTES` it is the
two ends of the link check, started inside the hosts by measure_link.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

RATE_UNITS = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
LINK_CHECK_PORT = 50051  # no server runs while a link is checked


def rate_bits(rate):
    """'100mbit' -> 1e8; ValueError for anything tc would not read the same."""
    for unit, scale in RATE_UNITS.items():
        if rate.endswith(unit) and rate[:-len(unit)].replace(".", "").isdigit():
            return float(rate[:-len(unit)]) * scale
    raise ValueError(f"rate {rate!r}: want a number and kbit, mbit or gbit")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class Cluster:
    """Hosts 0..n-1 named h0.. at 10.77.0.(i+1), each in namespace
    <prefix>h<i> with device eth0, plugged into a bridge in <prefix>sw."""

    def __init__(self, hosts, rate, delay_ms):
        self.prefix = f"cddp{os.getpid()}"
        self.switch = self.prefix + "sw"
        self.hosts = [f"{self.prefix}h{i}" for i in range(hosts)]
        self.rate, self.delay_ms = rate, delay_ms
        self.delay_applied = False
        self.made = []
        self.procs = []

    @staticmethod
    def ip(i):
        return f"10.77.0.{i + 1}"

    def netns(self, name):
        run(["ip", "netns", "add", name])
        self.made.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def up(self):
        self.netns(self.switch)
        run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        burst = max(32 * 1024, int(rate_bits(self.rate) / 8 / 1000))  # 1 ms
        tbf = ["tbf", "rate", self.rate, "burst", str(burst), "latency", "20ms"]
        for i, host in enumerate(self.hosts):
            self.netns(host)
            port = f"p{i}"
            run(["ip", "-n", host, "link", "add", "eth0", "type", "veth",
                 "peer", "name", port, "netns", self.switch])
            run(["ip", "-n", host, "addr", "add", self.ip(i) + "/24",
                 "dev", "eth0"])
            run(["ip", "-n", host, "link", "set", "eth0", "up"])
            run(["ip", "-n", self.switch, "link", "set", port, "master", "br0"])
            run(["ip", "-n", self.switch, "link", "set", port, "up"])
            # Uplink: the host's egress; downlink: the switch port's egress.
            run(["tc", "-n", host, "qdisc", "add", "dev", "eth0", "root",
                 "handle", "1:"] + tbf)
            run(["tc", "-n", self.switch, "qdisc", "add", "dev", port,
                 "root"] + tbf)
            if self.delay_ms > 0:
                self.delay_applied = subprocess.run(
                    ["tc", "-n", host, "qdisc", "add", "dev", "eth0",
                     "parent", "1:1", "handle", "10:", "netem", "delay",
                     f"{self.delay_ms}ms"], capture_output=True).returncode == 0
        if self.delay_ms > 0 and not self.delay_applied:
            print(f"netns_cluster: this kernel has no netem qdisc; links run "
                  f"without the {self.delay_ms} ms delay", file=sys.stderr)

    def start(self, host, cmd, env=None, stdout=subprocess.PIPE):
        """Starts `cmd` in host `host` (an index); its own process group."""
        full = ["ip", "netns", "exec", self.hosts[host]] + cmd
        proc = subprocess.Popen(full, stdout=stdout, stderr=subprocess.STDOUT,
                                text=True, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_processes(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs = []

    def down(self):
        self.stop_processes()
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made = []


def measure_link(cluster, src, dst, seconds=0.5):
    """Raw TCP copy src -> dst for about `seconds` at the nominal rate;
    returns the measured bits per second: the bytes after the first read
    over the time from the first read to the last."""
    nbytes = int(min(256e6, max(4e6, rate_bits(cluster.rate) / 8 * seconds)))
    me = os.path.abspath(__file__)
    sink = cluster.start(dst, [sys.executable, me, "_sink", str(LINK_CHECK_PORT)])
    if sink.stdout.readline().strip() != "listening":
        raise RuntimeError("link check: sink did not start")
    cluster.start(src, [sys.executable, me, "_source", cluster.ip(dst),
                        str(LINK_CHECK_PORT), str(nbytes)]).wait(timeout=300)
    got, timed, secs = sink.stdout.readline().split()
    sink.wait(timeout=60)
    if int(got) != nbytes:
        raise RuntimeError(f"link check: {got} of {nbytes} bytes arrived")
    return int(timed) * 8 / float(secs)


def sink_main(port):
    with socket.create_server(("0.0.0.0", port)) as server:
        print("listening", flush=True)
        conn, _ = server.accept()
        with conn:
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            first = conn.recv_into(view)
            start = time.perf_counter()
            got = first
            while True:
                n = conn.recv_into(view)
                if n == 0:
                    break
                got += n
            print(got, got - first, time.perf_counter() - start, flush=True)


def source_main(host, port, nbytes):
    chunk = bytes(1 << 20)
    with socket.create_connection((host, port)) as conn:
        left = nbytes
        while left > 0:
            n = min(left, len(chunk))
            conn.sendall(chunk[:n] if n < len(chunk) else chunk)
            left -= n


def can_make_namespaces():
    """'' if this machine can build the cluster, else why not: root, ip and
    tc, a namespace with a veth pair, and the tbf qdisc on it."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    if not shutil.which("ip") or not shutil.which("tc"):
        return "needs ip and tc (Debian's iproute2)"
    name = f"cddp{os.getpid()}probe"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                          text=True)
    if made.returncode != 0:
        return "cannot make a network namespace: " + made.stderr.strip()
    try:
        for cmd, what in (
                (["ip", "-n", name, "link", "add", "name", "probe0", "type",
                  "veth", "peer", "name", "probe1"], "a veth pair"),
                (["tc", "-n", name, "qdisc", "add", "dev", "probe0", "root",
                  "tbf",
                  "rate", "1gbit", "burst", "32768", "latency", "20ms"],
                 "the tbf qdisc")):
            step = subprocess.run(cmd, capture_output=True, text=True)
            if step.returncode != 0:
                return f"cannot make {what}: {step.stderr.strip()}"
        return ""
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)



if __name__ == "__main__":
    if sys.argv[1:2] == ["_sink"]:
        sink_main(int(sys.argv[2]))
    elif sys.argv[1:2] == ["_source"]:
        source_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
