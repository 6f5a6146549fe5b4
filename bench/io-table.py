#!/usr/bin/env python3
"""The table of bench/io.sh: reads its guests' "IO setup=... job=... rep=..." lines on
stdin and prints, per workload and set-up, the median and spread of the repetitions,
the ratio of medians to no IOMMU, the host round trips per I/O the IOMMU path added,
and what those would cost per I/O on hardware at 2 to 7 us per exit.

    python3 bench/io-table.py CORES REPS SECONDS <lines
"""
import statistics
import sys

JOBS = [  # job, metric, unit of the metric, what one "I/O" is
    ("rand-read-qd1", "iops", "IOPS", "I/O"),
    ("rand-read-qd32", "iops", "IOPS", "I/O"),
    ("rand-write-qd1", "iops", "IOPS", "I/O"),
    ("rand-write-qd32", "iops", "IOPS", "I/O"),
    ("seq-read-1m", "mbps", "MB/s", "I/O"),
    ("nic-echo-16m", "mbps", "MB/s", "MiB"),
    ("gpu-churn-300", "ops_per_s", "buffers/s", "buffer"),
]
SETUPS = ["none", "viommu-strict", "viommu-lazy", "pvdma-exact", "pvdma-window",
          "pvdma-adaptive"]
EXIT_US = (2.0, 7.0)


def main():
    cores, reps, secs = sys.argv[1:4]
    runs = {}
    for line in sys.stdin:
        if line.startswith("#"):
            print(line, end="")
            continue
        kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        runs.setdefault((kv["job"], kv["setup"]), []).append(kv)
    print(f"# {cores} host cores; TCG; {reps} repetitions in one boot per set-up; "
          f"fio {secs} s per job")
    print(f"{'workload':<16} {'set-up':<15} {'median':>10} {'min-max':>17} {'ratio':>6} "
          f"{'trips/I/O':>10} {'exit cost/I/O (us)':>19}")
    for job, metric, unit, per in JOBS:
        base = None
        for setup in SETUPS:
            rs = runs.get((job, setup))
            if not rs:
                continue
            vals = [float(r[metric]) for r in rs]
            med = statistics.median(vals)
            if setup == "none":
                base = med
            ios = sum(float(r["ios"]) for r in rs)
            trips = sum(float(r["trips"]) for r in rs) / ios if ios else float("nan")
            ratio = f"{med / base:.2f}" if base else "-"
            cost = f"{trips * EXIT_US[0]:.2f}-{trips * EXIT_US[1]:.2f}"
            bad = "" if all(r.get("verified", "1") == "1" for r in rs) else " (data differed)"
            print(f"{job:<16} {setup:<15} {med:>10.1f} {min(vals):>8.1f}-{max(vals):<8.1f} "
                  f"{ratio:>6} {trips:>10.4f} {cost:>19}{bad}")
        print(f"{'':<16} ({unit}; trips per {per})")


if __name__ == "__main__":
    main()
