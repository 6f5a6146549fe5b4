#!/usr/bin/env python3
# Writes the hand-made seeds of tests/fuzz/corpus/<harness>/: valid sessions in each
# harness's input encoding (its LLVMFuzzerTestOneInput reads them in this order), so
# fuzzing starts from deep states. Files the fuzzer found stay beside them.
import os
import struct

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def u8(*v): return bytes(x & 0xff for x in v)
def u16(v): return struct.pack("<H", v & 0xffff)
def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)


def write(harness, name, data):
    d = os.path.join(top, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# trace: the format's own lines, comments, and near misses.
write("trace", "valid", b"# t op pa len dir dev\n"
      b"1520331 M 0x12345000 4096 w 0100\n1520932 U 0x12345000 4096 w 0100\n"
      b"\n  7 M 0xffffffffffffffff 1 rw ffff\n8 U 0x0 18446744073709551615 r 0\n")
write("trace", "malformed", b"1 X 0x1000 4096 w 0100\n2 M 0x1000 0 w 0100\n"
      b"3 M 0x1000 4096 x 0100\n4 M 0x1000 4096 w 0100 extra\n5 M 0x1000\n")

# pvdma: config (granule 16 KiB, aperture at 4 granules, 32 of them, 8 mappings,
# 16 granules), a doorbell of maps, an unmap, a raw entry; probes; a reset; the top.
cfg = u8(1, 4, 32, 8, 16, 0)
raw_map = u8(1, 3) + u16(0) + u32(100) + u64(0x8000) + u64(0) + u32(0) + u32(0)
write("pvdma", "maps-unmaps", cfg + u8(2 + 8 * 3)
      + u8(0x0c) + u16(0x10) + u16(0x400)
      + u8(0x04) + u16(0x100) + u16(0x2000)
      + u8(0x01, 0)
      + u8(0x02) + raw_map
      + u8(1 + 8) + u16(0x50) + u16(0x300)
      + u8(0) + u8(2) + u8(0x07) + u32(0x4000) + u32(0x3000))
write("pvdma", "full", u8(0, 0, 2, 1, 1, 1) + u8(2 + 8 * 5)
      + (u8(0x04) + u16(0x1) + u16(0x4000)) * 3 + u8(0x01, 0, 0x05, 0, 0))

# map: each policy, small caps; maps, an unmap, a batch, a trim, a stray unmap.
for policy, name in ((0, "exact"), (1, "window"), (2, "adaptive")):
    write("map", name, u8(0, policy, 20, 100, 4, 2)
          + u8(0) + u8(0x05) + u16(0x100) + u16(0x200)
          + u8(1) + u8(0x0b, 3, 2)
          + u8(2) + u8(0x27) + u16(0x180) + u16(0x40)
          + u8(3, 0)
          + u8(5 + 8 * 2) + u8(0, 0x05) + u16(0x400) + u16(0x10) + u8(1, 0)
          + u8(6) + u8(7) + u16(0x10) + u8(4))


# prov: one session through the core.
def prov_msg(conn, op, fn=0, mut=0, body=b""):
    return u8(conn << 2, op) + u32(0x1000 + op) + u8(fn, mut) + body


def prov_session(flags, how):
    s = u8(flags) + u64(0x9e3779b97f4a7c15)
    s += u8(16, 64, 8, 32, 8, 0x0f)
    s += prov_msg(0, 1, body=u8(0, 0x0f))                  # HELLO
    s += prov_msg(0, 11, body=u8(16))                      # DMA_MEMORY: 16 granules
    s += prov_msg(0, 2, fn=0)                              # CLAIM fn0
    s += prov_msg(0, 2, fn=1)                              # CLAIM fn1
    s += prov_msg(0, 12, body=u8(2) + u8(0x04) + u16(1) + u16(0x100)
                  + u8(0x00) + u16(0x20) + u16(0x800) + u8(0x02)) + how
    s += prov_msg(0, 12, body=u8(0) + u8(0x02, 0))         # UNMAP the first
    s += prov_msg(0, 5, fn=0, body=u16(4) + u8(1) + u32(7))   # COMMAND
    s += prov_msg(0, 4, fn=0, body=u16(0x50) + u8(2))      # MSI capability
    s += prov_msg(0, 6, fn=0, body=u8(2))                  # REGION_MAP BAR2
    s += prov_msg(0, 7, fn=0, body=u8(0, 3) + u32(0x40))   # REGION_READ
    s += prov_msg(0, 9, fn=0, body=u8(2, 0, 3, 4))         # IRQ_SET
    s += prov_msg(0, 14)                                   # COUNTERS
    s += prov_msg(1, 1, body=u8(0, 0x0f)) + prov_msg(1, 2, fn=0)   # BUSY
    s += prov_msg(0, 3, fn=0) + prov_msg(0, 3, fn=1)       # RELEASE both
    s += u8(3)                                             # conn 0 closes
    return s


write("prov", "core-iova", prov_session(0x00, u8(0, 0)))
write("prov", "os-iova", prov_session(0x21 | 0x02, u8(4, 1, 5, 0, 0)))
write("prov", "raw", u8(0x20) + u64(1) + u8(0, 8, 2, 2, 1, 3)
      + u8(2) + u16(16) + u8(1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
      + u8(0x82) + u16(400) + u8(0) * 400)


# serve: HELLO, DMA_MEMORY with a memfd, NOTIFY, COUNTERS, an oversize and a short
# packet, a hang-up.
def serve_msg(client, op, nfds=0, mut=0, body=b"", fds=b""):
    return u8(1 + 4 * client, nfds, op) + u32(op) + u8(mut) + body + fds


write("serve", "session", u8(0)
      + serve_msg(0, 1, body=u8(0xff))
      + serve_msg(0, 11, nfds=1, body=u8(4), fds=u8(8 << 2))
      + serve_msg(0, 15, body=u8(0))
      + serve_msg(0, 14, body=u8(0))
      + serve_msg(1, 1, body=u8(0xff))
      + serve_msg(1, 11, nfds=2, body=u8(4), fds=u8(1, 2))
      + serve_msg(1, 0, mut=4 | 8, body=u8(0), fds=b"") + u8(0x20)
      + serve_msg(1, 0, mut=4, body=u8(0)) + u8(7)
      + u8(0))
