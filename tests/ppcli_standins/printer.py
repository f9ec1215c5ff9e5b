"""Prints KCP_FAKE_STANDIN_STDOUT and KCP_FAKE_STANDIN_STDERR (hex) and exits with KCP_FAKE_STANDIN_EXIT.

KCP_FAKE_STANDIN_STDOUT_FILE names a file printed instead, for output too big for the environment.

With KCP_FAKE_STANDIN_ECHO_ARG=1 it writes its ARG (argv[2]) to stderr first, as a chatty client might.
"""

import os
import sys

if os.environ.get("KCP_FAKE_STANDIN_ECHO_ARG") == "1" and len(sys.argv) > 2:
    sys.stderr.buffer.write(b"pp_cli: called with " + os.fsencode(sys.argv[2]) + b"\n")
if os.environ.get("KCP_FAKE_STANDIN_STDOUT_FILE"):
    with open(os.environ["KCP_FAKE_STANDIN_STDOUT_FILE"], "rb") as source:
        sys.stdout.buffer.write(source.read())
else:
    sys.stdout.buffer.write(bytes.fromhex(os.environ.get("KCP_FAKE_STANDIN_STDOUT", "")))
sys.stderr.buffer.write(bytes.fromhex(os.environ.get("KCP_FAKE_STANDIN_STDERR", "")))
sys.exit(int(os.environ.get("KCP_FAKE_STANDIN_EXIT", "0")))
