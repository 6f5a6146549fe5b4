#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
"""Cross-check of the coalescing mapper on traces that `dartpass gen` did not shape.

The mapper's targets (docs/mapper.md) are meant to hold on GPU-like traces outside the
repository. This script writes such traces with a generator of its own, written from
the issue's wording only and sharing no code or parameters with `dartpass gen`: each
seed draws one or two of game loading, UVM, 16 MiB allocations, coherent buffers and
churn with random parameters (density, page order, concurrency, region size, stragglers
that stay mapped, lifetimes, RAM size), sometimes followed by long-lived growth to 50
to 95% of the byte cap. It replays every trace with `dartpass sim` and flags, per
trace, each target adaptive misses:

  AVOID  exact refuses nothing (the data fits) but adaptive refuses maps;
  OVER   the data does not fit, and adaptive refuses more maps than the better of
         exact and window;
  HEAD   the data fits, 10x is possible (exact peaks at 10x the floor or more), and
         adaptive peaks above a tenth of exact's live host mappings;
  CALLS  adaptive makes more host map/unmap requests than window, and window refused
         no more maps (a refused map costs no request, so where window refuses more
         its count is not a like-for-like comparison).

It ends with the counts and, over the traces with game loading, the geometric means of
adaptive's peak mappings and host requests relative to window's. A benchmark, not a
test: it reports where the policy falls short.

  python3 bench/crosscheck.py [--seeds=FIRST-LAST] [--dartpass=PATH]
"""
import argparse
import math
import os
import random
import subprocess
import sys

K = 1024
M = K * K
G = M * K
CAP = 1536 * M
BASE = 4 * G


class Trace:
    """One seed's trace: events as (time ns, op, pa, len, dir)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.ram = self.r.choice([8, 16, 32, 64]) * G
        self.now = 0
        self.ev = []
        self.parts = []

    def tick(self):
        self.now += 1 + self.r.randrange(3000)

    def buf(self, pa, ln, life, d=None):
        """A buffer mapped now and unmapped life ns later (None: never)."""
        d = d or self.r.choice(['r', 'w', 'rw'])
        self.ev.append((self.now, 'M', pa, ln, d))
        if life is not None:
            self.ev.append((self.now + life, 'U', pa, ln, d))

    def pa(self, size, align):
        return BASE + self.r.randrange((self.ram - size) // align) * align

    def loading(self, total):
        """Game loading: groups of regions filled with 4 KiB pages, interleaved."""
        r = self.r
        conc = r.choice([1, 2, 4, 8, 16, 32])
        dens = r.choice([0.05, 0.2, 0.5, 0.8, 1.0])
        order = r.choice(['seq', 'rand'])
        keep = r.choice([0, 0, 0.001, 0.01])
        rsz = r.choice([1, 4, 16, 64]) * M
        life = r.choice(['region', 'page'])
        self.parts.append(f"load(conc={conc},dens={dens},{order},keep={keep},"
                          f"rsz={rsz >> 20}M,{life})")
        done = 0
        while done < total:
            regions = []
            for _ in range(conc):
                sz = max(64 * K, int(rsz * r.uniform(0.25, 1.0)) // (4 * K) * (4 * K))
                pa = self.pa(sz, r.choice([4 * K, 64 * K, 2 * M]))
                pages = [pa + i * 4 * K for i in range(sz // (4 * K)) if r.random() < dens]
                if order == 'rand':
                    r.shuffle(pages)
                regions.append(pages)
                done += len(pages) * 4 * K
            nxt = [0] * len(regions)
            left = sum(len(pages) for pages in regions)
            plife = r.randrange(1, 20) * M
            while left:
                i = r.randrange(len(regions))
                if nxt[i] >= len(regions[i]):
                    continue
                a = regions[i][nxt[i]]
                nxt[i] += 1
                left -= 1
                if r.random() < keep:
                    self.buf(a, 4 * K, None)
                elif life == 'page':
                    self.buf(a, 4 * K, plife)
                else:
                    self.buf(a, 4 * K, len(regions[i]) * 1500 + plife)
                self.tick()

    def uvm(self, total):
        """CUDA/UVM: clusters of 64 KiB pages in 2 MiB chunks, and 2 MiB blocks."""
        r = self.r
        p2m = r.choice([0, 0.05, 0.3])
        live = r.choice([100, 1000, 4000, 10000])
        clus = r.choice([1, 4, 16])
        self.parts.append(f"uvm(p2m={p2m},live={live},clus={clus})")
        for _ in range(int(total // (64 * K)) // clus + 1):
            if r.random() < p2m:
                self.buf(self.pa(2 * M, 2 * M), 2 * M, live * 3000)
                self.tick()
            else:
                chunk = self.pa(2 * M, 2 * M)
                for _ in range(clus):
                    self.buf(chunk + r.randrange(32) * 64 * K, 64 * K, live * 3000)
                    self.tick()

    def alloc16m(self, total):
        live = self.r.choice([10, 40, 80])
        self.parts.append(f"alloc16m(live={live})")
        for _ in range(int(total // (16 * M)) + 1):
            self.buf(self.pa(16 * M, 2 * M), 16 * M, live * 3000)
            self.tick()

    def coherent(self, total):
        """Long-lived buffers of 4 KiB up to a maximum, scattered, never unmapped."""
        r = self.r
        n = r.choice([500, 3000, 10000])
        mx = r.choice([64 * K, 256 * K, 1 * M])
        self.parts.append(f"coherent(n={n},max={mx >> 10}K)")
        for _ in range(n):
            ln = r.randrange(1, mx // (4 * K) + 1) * 4 * K
            self.buf(self.pa(ln, 4 * K), ln, None, 'rw')
            self.tick()

    def churn(self, total):
        """Short-lived 4..64 KiB maps, scattered; one in `stay` never unmapped."""
        r = self.r
        stay = r.choice([0, 8, 16, 64])
        self.parts.append(f"churn(stay=1/{stay})")
        for _ in range(int(total // (16 * K))):
            ln = r.randrange(1, 17) * 4 * K
            pa = self.pa(ln, 4 * K)
            forever = stay and r.randrange(stay) == 0
            self.buf(pa, ln, None if forever else r.randrange(1, 5000) * 1000)
            self.tick()

    def fill(self, frac):
        """Long-lived growth to frac of the byte cap, mixed sizes."""
        r = self.r
        self.parts.append(f"fill({frac})")
        total = 0
        while total < frac * CAP:
            ln = r.choice([4 * K, 64 * K, 256 * K, 2 * M, 16 * M])
            ln = min(ln, int(frac * CAP - total) // (16 * K) * (16 * K) or 16 * K)
            self.buf(self.pa(ln, 16 * K), ln, None, 'rw')
            total += ln
            self.tick()

    def build(self):
        r = self.r
        kinds = [self.loading, self.uvm, self.alloc16m, self.coherent, self.churn]
        for part in r.sample(kinds, r.choice([1, 1, 2])):
            part(r.choice([256, 1024, 4096]) * M)
        if r.random() < 0.4:
            self.fill(r.choice([0.5, 0.8, 0.9, 0.95]))
        self.ev.sort(key=lambda e: (e[0], 0 if e[1] == 'U' else 1))

    def write(self, path, seed):
        with open(path, 'w') as f:
            f.write(f"# crosscheck seed {seed}: {' '.join(self.parts)}\n")
            for t, op, a, ln, d in self.ev:
                f.write(f"{t} {op} {a:#x} {ln} {d} 0100\n")


def replay(dartpass, path):
    """dartpass sim's rows: policy -> (peak mappings, host requests, refused)."""
    out = subprocess.run([dartpass, 'sim', path], check=True, capture_output=True,
                         text=True).stdout
    head, *lines = out.splitlines()
    rows = {}
    for line in lines:
        f = dict(zip(head.split(), line.split()))
        rows[f['policy']] = tuple(0 if f[c] == '-' else int(f[c])
                                  for c in ('peak-map', 'host-ops', 'refused'))
    return rows


def flags(rows):
    """The targets adaptive misses on one trace (see the docstring at the top)."""
    (ep, _, er), (_, wo, wr), (ap, ao, ar) = (rows[p] for p in
                                              ('exact', 'window', 'adaptive'))
    fp = rows['floor'][0]
    out = []
    if er == 0 and ar > 0:
        out.append('AVOID')
    if er > 0 and ar > min(er, wr):
        out.append('OVER')
    if er == 0 and ep >= 10 * fp and ap * 10 > ep:
        out.append('HEAD')
    if ao > wo and wr <= ar:
        out.append('CALLS')
    return out


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', default='1-100', help='FIRST-LAST (default 1-100)')
    parser.add_argument('--dartpass', default=os.path.join(top, 'build', 'dartpass'))
    args = parser.parse_args()
    if args.dartpass == parser.get_default('dartpass'):
        subprocess.run(['make', '-s', '-C', top, 'tools'], check=True)
    first, _, last = args.seeds.partition('-')
    seeds = range(int(first), int(last or first) + 1)
    out = os.path.join(top, 'build', 'crosscheck')
    os.makedirs(out, exist_ok=True)

    counts = {k: 0 for k in ('AVOID', 'OVER', 'HEAD', 'CALLS')}
    logs = []
    print('seed  exact peak/requests/refused | window ... | adaptive ... | misses | trace')
    for seed in seeds:
        t = Trace(seed)
        t.build()
        path = os.path.join(out, f'{seed}.trace')
        t.write(path, seed)
        rows = replay(args.dartpass, path)
        miss = flags(rows)
        for k in miss:
            counts[k] += 1
        if any(p.startswith('load') for p in t.parts):
            (wp, wo, _), (ap, ao, _) = rows['window'], rows['adaptive']
            logs.append((math.log(ap / wp), math.log(ao / wo)))
        cols = ' | '.join('%d/%d/%d' % rows[p] for p in ('exact', 'window', 'adaptive'))
        print(f"{seed:4d}  {cols} | {','.join(miss) or '-'} | {' '.join(t.parts)}")
        sys.stdout.flush()
    print(f"{len(seeds)} traces: " +
          ', '.join(f'{k} {v}' for k, v in counts.items()))
    if logs:
        peak = math.exp(sum(p for p, _ in logs) / len(logs))
        calls = math.exp(sum(c for _, c in logs) / len(logs))
        print(f"{len(logs)} with game loading: adaptive/window peak mappings {peak:.2f}, "
              f"host requests {calls:.2f} (geometric means)")


if __name__ == '__main__':
    main()
