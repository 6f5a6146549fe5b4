#!/usr/bin/env python3
"""A minimal QEMU guest agent client for the image test (tests/tools/image.sh).

  qga.py SOCK wait SECONDS      until the agent answers guest-ping (exit 1 if never)
  qga.py SOCK exec 'SHELL CMD'  runs it with /bin/sh -c in the guest; prints its
                                stdout and stderr, exits with its status
  qga.py SOCK poweroff          systemctl poweroff in the guest
"""
import base64, json, random, socket, sys, time


class Agent:
    def __init__(self, path, timeout):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        # An earlier client may have left a half-read reply: guest-sync's id tells
        # our answer apart from leftovers.
        n = random.randrange(1, 1 << 31)
        self.send({"execute": "guest-sync", "arguments": {"id": n}})
        while self.read().get("return") != n:
            pass

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def read(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("agent closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.strip(b"\xff").strip()
        return json.loads(line) if line else {}

    def cmd(self, name, **args):
        self.send({"execute": name, "arguments": args} if args else {"execute": name})
        r = self.read()
        if "error" in r:
            raise RuntimeError(f"{name}: {r['error']}")
        return r.get("return")


def main():
    path, what = sys.argv[1], sys.argv[2]
    if what == "wait":
        end = time.time() + float(sys.argv[3])
        while time.time() < end:
            try:
                Agent(path, 5).cmd("guest-ping")
                return 0
            except (OSError, EOFError, ValueError, RuntimeError):
                time.sleep(1)
        print(f"qga: no answer from {path}", file=sys.stderr)
        return 1
    a = Agent(path, 30)
    if what == "poweroff":
        # Not guest-shutdown: the agent then waits for shutdown(8) and systemd
        # waits 90 s for the agent to stop. systemctl returns once the job is queued.
        a.cmd("guest-exec", path="/bin/systemctl", arg=["poweroff", "--no-block"])
        return 0
    if what == "exec":
        pid = a.cmd("guest-exec", path="/bin/sh", arg=["-c", sys.argv[3]],
                    **{"capture-output": True})["pid"]
        end = time.time() + 300
        while time.time() < end:
            st = a.cmd("guest-exec-status", pid=pid)
            if st.get("exited"):
                sys.stdout.write(base64.b64decode(st.get("out-data", "")).decode(errors="replace"))
                sys.stderr.write(base64.b64decode(st.get("err-data", "")).decode(errors="replace"))
                return st.get("exitcode", 128 + st.get("signal", 0))
            time.sleep(0.2)
        print("qga: the command did not finish in 300 s", file=sys.stderr)
        return 124
    print(f"qga: unknown request {what}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
