"""Records its argv, byte for byte, next to itself (argv.bin, NUL-separated) and answers 0000."""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "argv.bin"), "wb") as record:
    record.write(b"\0".join(os.fsencode(arg) for arg in sys.argv))
out = sys.stdout.buffer
out.write(b"a line before the answer, which is not read\n")
out.write(
    b"res_cd=0000\x1fres_msg=" + "정상처리".encode("euc-kr") + b"\x1fordr_idxx=ORD-20240424-0001"
    b"\x1ftno=20240424942340\x1fapp_time=20240424142638\n"
)
