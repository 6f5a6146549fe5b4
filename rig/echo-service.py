#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR MIT)
"""The host's echo service for guest tests: QEMU's user network runs it per connection
(guestfwd=tcp:10.0.2.100:7-cmd:{ECHO}, rig/guest-run.sh), with the connection as stdin
and stdout, and it sends back everything the guest sends.

It keeps reading while its writes wait, holding what it has not sent yet. `cat` did
not: the guest's busybox nc blocks in write and stops reading, cat then blocks in write
and stops reading too, and once the buffers between them are full the transfer stops
for good. That happened on a loaded host, with or without pvdma.
"""
import collections
import select
import socket

conn = socket.socket(fileno=0)
conn.setblocking(False)
pending = collections.deque()
sent = 0  # bytes of pending[0] already sent
eof = False
while not eof or pending:
    readable, writable, _ = select.select([] if eof else [conn], [conn] if pending else [], [])
    if readable:
        data = conn.recv(1 << 20)
        if data:
            pending.append(data)
        else:
            eof = True
    if writable:
        sent += conn.send(memoryview(pending[0])[sent:])
        if sent == len(pending[0]):
            pending.popleft()
            sent = 0
conn.shutdown(socket.SHUT_WR)
