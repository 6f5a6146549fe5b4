#!/usr/bin/env python3
"""Checks what a guest's GPU showed against what the guest drew (tests/guest/gpu.sh,
drm-client scanout): the decimal numbers 1, 2, 3, ... one per line, as `seq` prints
them, running through 32-bit XRGB rows as if they were packed. The host's GPU model
read those pages through the emulated DART, so a wrong translation shows up as wrong
pixels. Reads the PPM the runner saved (SCREEN) and prints DP-TEST
lines for rig/guest-run.sh's host-after hook."""
import os
import re
import sys


def pattern(size):
    out, n, have = [], 1, 0
    while have < size:
        s = b"%d\n" % n
        out.append(s)
        have += len(s)
        n += 1
    return b"".join(out)[:size]


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # QEMU writes the header as "P6\n<width> <height>\n255\n", without comments.
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    if not m:
        raise ValueError("not an 8-bit P6 PPM")
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + 3 * w * h]


def main():
    path = os.environ.get("SCREEN", "")
    try:
        w, h, rgb = read_ppm(path)
    except (OSError, ValueError) as e:
        print("DP-TEST not ok the display was saved (%s: %s)" % (path, e))
        return
    xrgb = pattern(4 * w * h)
    # Little-endian XRGB: blue, green, red, unused.
    want = bytearray(3 * w * h)
    want[0::3], want[1::3], want[2::3] = xrgb[2::4], xrgb[1::4], xrgb[0::4]
    bad = [i // 3 for i in range(0, len(want), 3) if rgb[i:i + 3] != want[i:i + 3]]
    where = ", the first at row %d" % (bad[0] // w) if bad else ""
    print("DP-TEST %s the display shows what the guest wrote (%dx%d, %d pixels differ%s)"
          % ("not ok" if bad else "ok", w, h, len(bad), where))


if __name__ == "__main__":
    sys.exit(main())
