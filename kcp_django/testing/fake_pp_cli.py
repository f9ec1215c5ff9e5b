"""A fake ``pp_cli`` that honours KCP's contract, for our tests and a shop's own CI.

It is not KCP's binary and never talks to KCP: it answers the way the embedded sandbox does
(:mod:`kcp_django.gateways.sandbox`), over the same command line as the real client
(``spec/CONTRACT.md``)::

    kcp-fake-pp-cli -h ARG                      # or: python -m kcp_django.testing.fake_pp_cli -h ARG

Point a merchant at it with ``OPTIONS["BIN"]``, or make ``{HOME_DIR}/bin/pp_cli`` a symlink to the
``kcp-fake-pp-cli`` script.

Like the real client it
  * splits ``ARG`` like libc ``getsubopt`` (a comma ends a token, the first ``=`` splits, unknown
    keys are ignored) and reads the sections' US/RS/GS framing, text in EUC-KR;
  * answers ``res_cd=S102<US>res_msg=연동 모듈 호출 오류`` on stdout (and a banner on stderr) for
    any other usage, e.g. a bare ``-h``: KCP's installation check. It adds ``<US>kcp_fake=1``,
    a field the real client never sends, so ``manage.py kcp_check`` can tell it is this test
    double (and fails a merchant in real mode that runs it);
  * prints its answer in EUC-KR as the last line of stdout;
  * writes a log to ``{log_path}/YYYYMM/DD_pp_cli.log`` (``{home}/log/...`` when ``log_path`` is
    empty); unlike the real one it masks account numbers and names there.

It reads the request back through the layout table (:mod:`kcp_django.gateways.ppcli.layout`) and
follows the sandbox: account ``999...`` gets no answer (it sleeps until the caller's timeout),
``000...`` answers 8105, a holder name with ``불일치``/``mismatch`` answers 8104, anything else
``0000`` with a 14-digit ``tno`` and ``app_time``. A request that does not match the layout (wrong
``tx_cd`` or constants, missing fields, bad framing) answers ``8999`` (기타오류) with the reason
on stderr.

It never answers a request addressed to KCP's real gateway (``pa_url=paygw.kcp.co.kr``, real
mode): whatever the request and ``KCP_FAKE_MODE``, it answers ``S999`` ("kcp-django fake pp_cli
refuses the real gateway"), an ``S`` code like those KCP's client makes up, which kcp-django stores
as UNKNOWN, never as verified.

Environment variables:

``KCP_FAKE_MODE``
    ``normal`` (default); ``slow`` (sleep ``KCP_FAKE_SLEEP`` seconds, then answer); ``hang``
    (sleep forever); ``crash`` (die of SIGSEGV); ``killed`` (SIGKILL itself); ``empty`` (print
    nothing, exit 0); ``garbage`` (a last line without ``res_cd``); ``undecodable`` (an answer
    whose bytes are not CP949); ``huge`` (``KCP_FAKE_HUGE_BYTES`` of output, then the answer);
    ``exit`` (print nothing, exit with ``KCP_FAKE_EXIT_STATUS``); ``spawn`` (fork a grandchild that
    sleeps forever holding stdout/stderr, announce its pid on stderr, then answer and exit).
    The modes apply to transactions only: the installation check always answers S102.
``KCP_FAKE_SLEEP``
    Seconds for ``slow`` (default 2).
``KCP_FAKE_HUGE_BYTES``
    Bytes printed before the answer in ``huge`` (default 10485760, 10 MiB).
``KCP_FAKE_EXIT_STATUS``
    Status for ``exit`` (default 3).
``KCP_FAKE_LAYOUT``
    JSON merged over the default layout, like ``OPTIONS["LAYOUT"]``; set it to the same overrides.

Only the standard library and kcp_django's sandbox, gateway base and layout are used: no Django
settings are needed.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kcp_django.exceptions import KcpConfigurationError
from kcp_django.gateways.ppcli.client import ARG_KEYS
from kcp_django.gateways.ppcli.layout import Layout, extract, layout_from_json
from kcp_django.gateways.sandbox import answer_fields
from kcp_django.masking import mask_fields

ENCODING = "cp949"
US, RS, GS = b"\x1f", b"\x1e", b"\x1d"
KNOWN_KEYS = frozenset(ARG_KEYS)
#: section key in ARG -> (name repeated inside its value, pair separator)
PAIR_SECTIONS = {
    "ordr_data": (b"ordr_data", US),
    "rcvr_data": (b"rcvr_data", US),
    "escw_data": (b"escw_data", GS),
    "modx_data": (b"mod_data", US),
}
#: The field that marks this test double's installation-check answer: KCP's pp_cli never sends it.
FAKE_MARKER = ("kcp_fake", "1")
USAGE_ANSWER = {"res_cd": "S102", "res_msg": "연동 모듈 호출 오류", FAKE_MARKER[0]: FAKE_MARKER[1]}
BAD_REQUEST = ("8999", "기타오류")
#: KCP's real gateway host (real mode), which this test double refuses to answer for.
REAL_GATEWAY_HOST = "paygw.kcp.co.kr"
REAL_GATEWAY_REFUSAL = ("S999", "kcp-django fake pp_cli refuses the real gateway")
MODES = ("normal", "slow", "hang", "crash", "killed", "empty", "garbage", "undecodable", "huge", "exit", "spawn")
BANNER = (
    "pp_cli - PayPLUS CLIENT 모듈 ver 2.00 (kcp-django fake)\n"
    "This is kcp-django's fake pp_cli for tests, not KCP's binary; it never contacts KCP.\n"
)


@dataclass
class ParsedArg:
    """``ARG`` read back: top-level values, payx sub-records and pair sections, as text."""

    header: dict[str, str] = field(default_factory=dict)
    payx_data: dict[str, dict[str, str]] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _decode(where: str, raw: bytes, parsed: ParsedArg) -> str:
    try:
        return raw.decode(ENCODING)
    except UnicodeDecodeError:
        parsed.problems.append(f"{where} is not EUC-KR/CP949 text")
        return raw.decode(ENCODING, "replace")


def _pairs(where: str, body: bytes, separator: bytes, parsed: ParsedArg) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for piece in body.split(separator):
        if not piece:
            continue
        raw_name, sep, value = piece.partition(b"=")
        if not sep:
            parsed.problems.append(f"{where} holds a piece without '='")
            continue
        name = _decode(f"a name in {where}", raw_name, parsed)
        pairs[name] = _decode(f"{where}.{name}", value, parsed)
    return pairs


def _strip_inner_name(where: str, value: bytes, inner: bytes, parsed: ParsedArg) -> bytes:
    prefix = inner + b"="
    if value.startswith(prefix):
        return value[len(prefix) :]
    if value:
        parsed.problems.append(f"{where} does not start with its own name {prefix.decode()!r}")
    return b""


def parse_arg(arg: bytes) -> ParsedArg:
    """Split ``ARG`` the way pp_cli does and read its sections."""
    parsed = ParsedArg()
    for token in arg.split(b","):
        raw_key, _, value = token.partition(b"=")
        key = raw_key.decode("ascii", "replace")
        if key not in KNOWN_KEYS:
            continue
        if key == "payx_data":
            for record in _strip_inner_name(key, value, b"payx_data", parsed).split(RS):
                if record:
                    raw_sub, _, body = record.partition(b"=")
                    sub = _decode("a payx_data sub-record name", raw_sub, parsed)
                    parsed.payx_data[sub] = _pairs(f"payx_data.{sub}", body, US, parsed)
        elif key in PAIR_SECTIONS:
            inner, separator = PAIR_SECTIONS[key]
            parsed.sections[key] = _pairs(key, _strip_inner_name(key, value, inner, parsed), separator, parsed)
        else:
            parsed.header[key] = _decode(key, value, parsed)
    return parsed


def _encode_answer(fields: Mapping[str, str]) -> bytes:
    return US.join(f"{key}={value}".encode(ENCODING, "replace") for key, value in fields.items()) + b"\n"


def _emit(stream: int, data: bytes) -> None:
    target = sys.stdout.buffer if stream == 1 else sys.stderr.buffer
    target.write(data)
    target.flush()


def _say(text: str) -> None:
    _emit(2, f"kcp-django fake pp_cli: {text}\n".encode(ENCODING, "replace"))


def _usage(args: Sequence[str]) -> int:
    problem = "option requires an argument -- 'h'" if list(args) == ["-h"] else "usage: pp_cli -h ARG"
    _emit(2, f"pp_cli: {problem}\n{BANNER}".encode(ENCODING))
    _emit(1, _encode_answer(USAGE_ANSWER))
    return 0


def _log_file(header: Mapping[str, str]) -> str | None:
    folder = header.get("log_path", "") or (os.path.join(header["home"], "log") if header.get("home") else "")
    if not folder:
        return None
    now = dt.datetime.now()
    return os.path.join(folder, now.strftime("%Y%m"), now.strftime("%d") + "_pp_cli.log")


def _write_log(parsed: ParsedArg, mode: str, answer: Mapping[str, str]) -> None:
    path = _log_file(parsed.header)
    if path is None:
        return
    shown = {key: value for key, value in parsed.header.items() if key not in ("home", "log_path")}
    request = ", ".join(f"{key}={value}" for key, value in mask_fields(shown).items())
    for sub, pairs in parsed.payx_data.items():
        request += f", payx_data.{sub}[" + ", ".join(f"{k}={v}" for k, v in mask_fields(pairs).items()) + "]"
    for name, pairs in parsed.sections.items():
        if pairs:
            request += f", {name}[" + ", ".join(f"{k}={v}" for k, v in mask_fields(pairs).items()) + "]"
    reply = ", ".join(f"{k}={v}" for k, v in answer.items()) or "(no answer)"
    line = f"{dt.datetime.now():%H:%M:%S} [kcp-django fake pp_cli pid {os.getpid()}] mode={mode} "
    line += f"request: {request} -> reply: {reply}\n"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "ab") as log:
            log.write(line.encode(ENCODING, "replace"))
    except OSError as exc:
        _say(f"cannot write the log {path}: {exc.strerror}")


def addressed_to_real_gateway(header: Mapping[str, str]) -> bool:
    """Whether ``pa_url`` names KCP's real gateway host (any case, with or without a final dot)."""
    return header.get("pa_url", "").strip().rstrip(".").lower() == REAL_GATEWAY_HOST


def _answer(parsed: ParsedArg, layout: Layout) -> dict[str, str]:
    """The sandbox's answer fields, ``{}`` for "no answer", or 8999 for a request off the layout."""
    extracted = extract(layout, parsed.header, parsed.payx_data, parsed.sections)
    problems = list(parsed.problems)
    problems += [f"{where} is {got!r}, the layout says {want!r}" for where, want, got in extracted.mismatched_constants]
    problems += [f"{key} is empty" for key in ("site_cd", "site_key") if not parsed.header.get(key)]
    request = extracted.request
    problems += [f"no {name} found" for name in ("account_no", "owner_nm", "bank_code") if not getattr(request, name)]
    if problems:
        _say("request does not follow the layout: " + "; ".join(problems))
        return {"res_cd": BAD_REQUEST[0], "res_msg": BAD_REQUEST[1], "ordr_idxx": request.ordr_idxx}
    return answer_fields(request)


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def _die_by(signum: signal.Signals) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a test crash leaves no core file behind
    if signum != signal.SIGKILL:
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    _sleep_forever()


def _spawn_grandchild() -> None:
    pid = os.fork()
    if pid == 0:  # the grandchild keeps the inherited stdout/stderr open
        try:
            _sleep_forever()
        finally:
            os._exit(0)
    _say(f"left grandchild pid {pid} holding stdout")


def _run_mode(mode: str, answer: dict[str, str]) -> int:
    """Deliver ``answer`` the way ``mode`` says; returns the exit status."""
    if mode == "hang":
        _sleep_forever()
    elif mode == "crash":
        _die_by(signal.SIGSEGV)
    elif mode == "killed":
        _die_by(signal.SIGKILL)
    elif mode == "empty":
        return 0
    elif mode == "exit":
        status = int(_env_number("KCP_FAKE_EXIT_STATUS", 3))
        _say(f"exiting with status {status} (KCP_FAKE_MODE=exit)")
        return status
    elif mode == "garbage":
        _emit(1, b"PayPLUS trace 7f3a: session closed\x1fstatus=ok\n")
        return 0
    elif mode == "undecodable":
        _emit(1, b"res_cd=0000\x1fres_msg=\xff\xfe\x80\n")
        return 0
    elif mode == "slow":
        time.sleep(_env_number("KCP_FAKE_SLEEP", 2))
    elif mode == "huge":
        remaining = int(_env_number("KCP_FAKE_HUGE_BYTES", 10 * 1024 * 1024))
        filler = b"x" * 1023 + b"\n"
        while remaining > 0:
            _emit(1, filler[:remaining])
            remaining -= len(filler)
    elif mode == "spawn":
        _spawn_grandchild()
    if not answer:  # the sandbox's "no answer": let the caller's timeout fire
        _sleep_forever()
    _emit(1, _encode_answer(answer))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run as ``pp_cli``: ``argv`` defaults to ``sys.argv[1:]``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 1 and args[0].startswith("-h") and len(args[0]) > 2:  # getopt also takes -hARG
        args = ["-h", args[0][2:]]
    if len(args) != 2 or args[0] != "-h":
        return _usage(args)
    mode = os.environ.get("KCP_FAKE_MODE", "") or "normal"
    if mode not in MODES:
        _say(f"unknown KCP_FAKE_MODE={mode!r} (known: {', '.join(MODES)})")
        return 2
    try:
        layout = layout_from_json(os.environ.get("KCP_FAKE_LAYOUT", ""))
    except KcpConfigurationError as exc:
        _say(f"KCP_FAKE_LAYOUT: {exc}")
        return 2
    parsed = parse_arg(os.fsencode(args[1]))
    if addressed_to_real_gateway(parsed.header):
        _say(f"pa_url={REAL_GATEWAY_HOST} is KCP's real gateway: this test double never answers for it")
        refusal = {"res_cd": REAL_GATEWAY_REFUSAL[0], "res_msg": REAL_GATEWAY_REFUSAL[1]}
        refusal["ordr_idxx"] = parsed.header.get("ordr_idxx", "")
        _write_log(parsed, mode, refusal)
        _emit(1, _encode_answer(refusal))
        return 0
    answer = _answer(parsed, layout)
    _write_log(parsed, mode, answer)
    return _run_mode(mode, answer)


if __name__ == "__main__":
    sys.exit(main())
