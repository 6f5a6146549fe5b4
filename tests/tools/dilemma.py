#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
"""Two pairs of traces on which no mapping policy can meet all of the mapper's targets
(docs/mapper.md, "What no policy can do"). Each pair shares its first part: a policy
sees the same maps in the same order and cannot tell the traces apart when it decides.

  calls:  N pairs of 4 KiB buffers, 128 KiB apart inside a 256 KiB window, pairs 1 MiB
          apart; all first buffers are mapped, then all second ones. Window covers each
          pair with one mapping: 2N host requests. Any policy making no more must, once
          all are mapped, hold at most N mappings over 2N buffers, so at least N of the
          112 KiB gaps inside pairs are mapped: N x 144 KiB at least.
  head:   N groups of ten 4 KiB buffers 64 KiB apart. 10x fewer mappings than exact
          means at most N mappings over 10N buffers: N x 592 KiB at least.

Each second trace (growth) then maps long-lived 16 MiB buffers elsewhere until exact
holds 97% of the byte cap, so it fits; what the bound above adds does not. Every
policy this script can run (exact, window of 64 KiB to 1 MiB, adaptive with slop
shares of 2 to 100%) is checked against the bound, and adaptive as shipped must fit
both growth traces. Prints TAP lines."""
import os
import subprocess
import sys

K = 1024
M = K * K
CAP = 1536 * M
N = 1024
SHAPES = {  # buffers per group, their spacing, the bound on mapped bytes
    'calls': (2, 128 * K, N * 144 * K),
    'head': (10, 64 * K, N * 592 * K),
}

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
dp = os.path.join(top, 'build', 'dartpass')
out = os.path.join(top, 'build', 'sim-test')


def write(path, shape, growth):
    n, step, _ = SHAPES[shape]
    base = 1 << 30
    ev = []
    maps = [base + i * M + j * step for j in range(n) for i in range(N)]
    ev += [('M', a, 4096) for a in maps]
    if growth:
        big = (int(CAP * 0.97) - N * n * 16 * K) // (16 * M)
        ev += [('M', (8 << 30) + i * 16 * M, 16 * M) for i in range(big)]
        ev += [('U', (8 << 30) + i * 16 * M, 16 * M) for i in range(big)]
    ev += [('U', a, 4096) for a in maps]
    with open(path, 'w') as f:
        for t, (op, a, ln) in enumerate(ev):
            f.write(f"{(t + 1) * 1000} {op} {a:#x} {ln} w 0100\n")


def sim(args, traces):
    """{(trace, policy): row} from `dartpass sim` (the floor row included)."""
    p = subprocess.run([dp, 'sim'] + args + traces, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"dartpass sim {' '.join(args)} exited {p.returncode}: {p.stderr}")
    rows = {}
    for line in p.stdout.splitlines()[1:]:
        f = line.split()
        rows[(os.path.basename(f[0]), f[1])] = {
            'peak': int(f[3]), 'mib': float(f[4]) if f[4] != '-' else 0.0,
            'ops': int(f[6]) if f[6] != '-' else 0, 'refused': int(f[8]) if f[8] != '-' else 0}
    return rows


results = []


def check(ok, what):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} - {what}")


def main():
    if subprocess.run(['make', '-s', '-C', top, 'tools']).returncode:
        print("not ok - dartpass builds")
        return 1
    os.makedirs(out, exist_ok=True)
    traces = []
    for shape in SHAPES:
        for growth in (0, 1):
            traces.append(os.path.join(out, f"dilemma-{shape}{growth}.trace"))
            write(traces[-1], shape, growth)
    runs = {'exact': sim(['--policy=exact'], traces)}
    for s in range(16, 21):
        runs[f"window {1 << (s - 10)} KiB"] = sim([f"--window-shift={s}", '--policy=window'], traces)
    for share in (2, 5, 10, 20, 50, 100):
        runs[f"adaptive {share}%"] = sim([f"--slop-share={share}", '--policy=adaptive'], traces)
    pol = lambda name: name.split()[0]
    row = lambda name, t: runs[name][(f"dilemma-{t}.trace", pol(name))]

    for t in ('calls0', 'calls1', 'head0', 'head1'):
        check(row('exact', t)['refused'] == 0,
              f"{t}: exact refuses nothing (peaks at {row('exact', t)['mib']:.0f} MiB): the data fits")
    floor = runs['exact'][('dilemma-head0.trace', 'floor')]['peak']
    exact_peak = row('exact', 'head0')['peak']
    check(floor * 10 <= exact_peak,
          f"head0: the floor ({floor}) says 10x under exact ({exact_peak}) is possible")

    target = {'calls': ('ops', row('window 256 KiB', 'calls0')['ops'], "host requests"),
              'head': ('peak', exact_peak // 10, "peak mappings")}
    for shape, (field, limit, what) in target.items():
        bound = SHAPES[shape][2] / M
        met = [name for name in runs if row(name, f"{shape}0")[field] <= limit]
        bad = [name for name in met if row(name, f"{shape}1")['refused'] == 0 or
               row(name, f"{shape}0")['mib'] < bound]
        for name in runs:
            r0, r1 = row(name, f"{shape}0"), row(name, f"{shape}1")
            print(f"# {shape}: {name:16} {what} {r0[field]:6} (target {limit}), "
                  f"{r0['mib']:7.1f} MiB; with growth refuses {r1['refused']}")
        check(met and not bad,
              f"{shape}: every policy with at most {limit} {what} ({', '.join(met)}) maps at "
              f"least {bound:.0f} MiB and refuses maps once long-lived data grows"
              + (f" (not: {', '.join(bad)})" if bad else ""))
        r = row('adaptive 2%', f"{shape}1")
        check(r['refused'] == 0, f"{shape}1: adaptive as shipped refuses nothing ({r['refused']})")

    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
