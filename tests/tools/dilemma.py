#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
"""Traces on which no mapping policy can meet all of the mapper's targets
(docs/mapper.md, "What no policy can do"). The traces of one shape share their first
part: a policy sees the same maps in the same order and cannot tell the traces apart
when it decides.

  calls:  N pairs of 4 KiB buffers, 128 KiB apart inside a 256 KiB window, pairs 4 MiB
          apart; all first buffers are mapped, then all second ones. Window covers each
          pair with one mapping: 2N host requests. Any policy making no more must, once
          all are mapped, hold at most N mappings over 2N buffers, so at least N of the
          112 KiB gaps inside pairs are mapped: N x 144 KiB at least.
  head:   N groups of ten 4 KiB buffers 64 KiB apart, groups 4 MiB apart. 10x fewer mappings than exact
          means at most N mappings over 10N buffers: N x 592 KiB at least.

Each "end" trace then unmaps everything. Each "growth" trace instead maps long-lived
16 MiB buffers elsewhere until exact holds 97% of the byte cap, so it fits; what the
bound above adds does not. The "slots" trace maps, after the pairs, long-lived 4 KiB
buffers 64 MiB apart until only sharing pairs' mappings leaves enough mappings: it
fits both caps, but only for a policy that shares at least 922 pairs (bridging
anything else costs 3.8 MiB or more per mapping saved), and that refuses maps on
calls-growth.

Every policy this script can run (exact, window of 64 KiB to 1 MiB, adaptive with
slop shares of 2 to 100%) is checked against the bounds, and adaptive as shipped must
fit both growth traces. Prints TAP lines."""
import os
import subprocess
import sys

K = 1024
M = K * K
CAP = 1536 * M
MAX_MAPPINGS = 65536
N = 1024
PAGE = 16 * K
SHAPES = {'calls': (2, 128 * K), 'head': (10, 64 * K)}  # buffers per group, their spacing


def bound(shape):
    """Bytes mapped by N mappings that each span a whole group: the least any policy
    holding one mapping per group maps, since the gaps inside groups are the cheapest."""
    n, step = SHAPES[shape]
    return N * ((n - 1) * step + PAGE)

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
dp = os.path.join(top, 'build', 'dartpass')
out = os.path.join(top, 'build', 'sim-test')


def write(path, shape, ext):
    n, step = SHAPES[shape]
    base = 1 << 30
    maps = [base + i * 4 * M + j * step for j in range(n) for i in range(N)]
    ev = [('M', a, 4096) for a in maps]
    if ext == 'growth':
        big = [(8 << 30) + i * 16 * M for i in range((int(CAP * 0.97) - N * n * PAGE) // (16 * M))]
        ev += [('M', a, 16 * M) for a in big] + [('U', a, 16 * M) for a in big]
    if ext == 'slots':
        # Left mapped: the last event is the moment the floor must see.
        ev += [('M', (1 << 40) + i * 64 * M, 4096) for i in range(MAX_MAPPINGS - N)]
    else:
        ev += [('U', a, 4096) for a in maps]
    with open(path, 'w') as f:
        for t, (op, a, ln) in enumerate(ev):
            f.write(f"{(t + 1) * 1000} {op} {a:#x} {ln} w 0100\n")


def number(cell, kind=int):
    """A cell of sim's table; '-' (the floor row's blanks) reads as 0."""
    return kind(0) if cell == '-' else kind(cell)


def sim(args, traces):
    """{(trace, policy): row} from `dartpass sim` (the floor row included)."""
    p = subprocess.run([dp, 'sim'] + args + traces, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"dartpass sim {' '.join(args)} exited {p.returncode}: {p.stderr}")
    head, *lines = p.stdout.splitlines()
    rows = {}
    for line in lines:
        f = dict(zip(head.split(), line.split()))
        rows[(os.path.basename(f['trace']), f['policy'])] = {
            'peak': number(f['peak-map']), 'mib': number(f['peak-MiB'], float),
            'ops': number(f['host-ops']), 'refused': number(f['refused'])}
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
    names = ['calls-end', 'calls-growth', 'calls-slots', 'head-end', 'head-growth']
    traces = []
    for name in names:
        traces.append(os.path.join(out, f"dilemma-{name}.trace"))
        write(traces[-1], *name.split('-'))
    runs = {'exact': sim(['--policy=exact'], traces)}
    for s in range(16, 21):
        runs[f"window {1 << (s - 10)} KiB"] = sim([f"--window-shift={s}", '--policy=window'], traces)
    for share in (2, 5, 10, 20, 50, 100):
        runs[f"adaptive {share}%"] = sim([f"--slop-share={share}", '--policy=adaptive'], traces)

    def row(name, trace):
        """The row of run name (its first word is the policy) for trace."""
        return runs[name][(f"dilemma-{trace}.trace", name.split()[0])]

    for t in ('calls-end', 'calls-growth', 'head-end', 'head-growth'):
        check(row('exact', t)['refused'] == 0,
              f"{t}: exact refuses nothing (peaks at {row('exact', t)['mib']:.0f} MiB): the data fits")
    floor = runs['exact'][('dilemma-head-end.trace', 'floor')]['peak']
    exact_peak = row('exact', 'head-end')['peak']
    check(floor * 10 <= exact_peak,
          f"head-end: the floor ({floor}) says 10x under exact ({exact_peak}) is possible")

    target = {'calls': ('ops', row('window 256 KiB', 'calls-end')['ops'], "host requests"),
              'head': ('peak', exact_peak // 10, "peak mappings")}
    for shape, (field, limit, what) in target.items():
        need = bound(shape) / M
        met = [name for name in runs if row(name, f"{shape}-end")[field] <= limit]
        bad = [name for name in met if row(name, f"{shape}-growth")['refused'] == 0 or
               row(name, f"{shape}-end")['mib'] < need]
        for name in runs:
            r0, r1 = row(name, f"{shape}-end"), row(name, f"{shape}-growth")
            print(f"# {shape}: {name:16} {what} {r0[field]:6} (target {limit}), "
                  f"{r0['mib']:7.1f} MiB; with growth refuses {r1['refused']}")
        check(met and not bad,
              f"{shape}: every policy with at most {limit} {what} ({', '.join(met)}) maps at "
              f"least {need:.0f} MiB and refuses maps once long-lived data grows"
              + (f" (not: {', '.join(bad)})" if bad else ""))
        r = row('adaptive 2%', f"{shape}-growth")
        check(r['refused'] == 0, f"{shape}-growth: adaptive as shipped refuses nothing ({r['refused']})")

    # The floor is a cover of the live pages that fits the byte cap; at the last event
    # of calls-slots (all live) it shows that a cover within both caps exists.
    floor = runs['exact'][('dilemma-calls-slots.trace', 'floor')]['peak']
    check(floor <= MAX_MAPPINGS and row('exact', 'calls-slots')['refused'] > 0,
          f"calls-slots fits both caps ({floor} mappings suffice), but not one mapping per "
          f"buffer (exact refuses {row('exact', 'calls-slots')['refused']} maps)")
    fits = []
    for name in runs:
        slots, growth = row(name, 'calls-slots')['refused'], row(name, 'calls-growth')['refused']
        print(f"# slots/growth: {name:16} refuses {slots} / {growth}")
        if not slots and not growth:
            fits.append(name)
    check(not fits, "no policy fits both calls-slots and calls-growth, which begin alike"
          + (f" (but: {', '.join(fits)})" if fits else ""))

    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
