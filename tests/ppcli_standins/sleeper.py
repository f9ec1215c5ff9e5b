"""Writes its pid (and, with KCP_FAKE_STANDIN_SPAWN=1, a grandchild's pid) next to itself, then sleeps forever.

With KCP_FAKE_STANDIN_SPAWN=1 and KCP_FAKE_STANDIN_THEN=answer it answers 0000 and exits instead of sleeping,
leaving the grandchild holding stdout.
"""

import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
pids = [os.getpid()]
if os.environ.get("KCP_FAKE_STANDIN_SPAWN") == "1":
    # The grandchild inherits stdout and stderr, so the caller's pipes stay open while it lives.
    pids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid)
with open(os.path.join(here, "pids.txt"), "w") as record:
    record.write(" ".join(map(str, pids)))
if os.environ.get("KCP_FAKE_STANDIN_THEN") == "answer":
    sys.stdout.buffer.write(b"res_cd=0000\x1fres_msg=" + "정상처리".encode("euc-kr") + b"\n")
    sys.stdout.flush()
    sys.exit(0)
while True:
    time.sleep(600)
