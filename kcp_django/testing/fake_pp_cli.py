"""A fake ``pp_cli`` that honours KCP's contract, for our tests and a shop's own CI.

It is not KCP's binary and never talks to KCP: it answers the way the embedded sandbox does
(:mod:`kcp_django.gateways.sandbox`), over the same command line as the real client
(``docs/ppcli.md``)::

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
``KCP_FAKE_REFUND_LAYOUTS``
    JSON refund tables merged over the defaults, like ``OPTIONS["REFUND_LAYOUTS"]``; set it to the
    same overrides.

Refunds: a request whose ``tx_cd`` is a refund kind's (:mod:`kcp_django.gateways.ppcli.refund_layout`)
or whose ``modx_data`` (``mod_data``) section holds fields is a refund. The fake finds the kind
whose table renders exactly the ``mod_data`` pairs it received (names, order, constants, ``BKxx``
bank, ``MDSC00``/``MDSC03``), reads the refund back and answers as the sandbox does
(:func:`kcp_django.gateways.sandbox.refund_answer_fields`): ``tno`` ending in ``9`` gets no answer
(it sleeps until the caller's timeout, like account ``999...``), ending in ``8`` answers ``8801``, a
``vbank-refund`` follows the account rules above (``8105``/``8104``), anything else answers ``0000``
with the refund's ``tno`` and ``app_time``. A refund off every table answers ``8999``.

Only the standard library and kcp_django's sandbox, gateway base and layouts are used: no Django
settings are needed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kcp_django.exceptions import KcpConfigurationError
from kcp_django.gateways.base import REFUND_KINDS, RefundCall
from kcp_django.gateways.ppcli.client import ARG_KEYS
from kcp_django.gateways.ppcli.layout import Layout, extract, layout_from_json
from kcp_django.gateways.ppcli.refund_layout import refund_layout, render_refund
from kcp_django.gateways.sandbox import answer_fields, refund_answer_fields
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
            request += f", {name}[" + ", ".join(f"{k}={v}" for k, v in _mask_pairs(pairs).items()) + "]"
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
    if is_refund(parsed, layout):
        return _refund_answer(parsed)
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


# --- refunds ---------------------------------------------------------------------------------

#: Refund fields holding an account number or a holder's name, masked like ``account_no``/``owner_nm``.
REFUND_SENSITIVE = {"refund_account": "account_no", "refund_nm": "owner_nm"}
#: The ``mod_type`` each refund kind may carry (``kcp_django.refunds.service.mod_type_for``).
REFUND_MOD_TYPES = {"escrow-cancel": ("STE2", "STE4"), "escrow-refund": ("STE9",), "vbank-refund": ("STHD", "STPD")}


def _mask_pairs(pairs: Mapping[str, str]) -> dict[str, str]:
    masked = mask_fields(pairs)
    for name, like in REFUND_SENSITIVE.items():
        if name in pairs:
            masked[name] = mask_fields({like: pairs[name]})[like]
    return masked


def _refund_overrides() -> Any:
    """``KCP_FAKE_REFUND_LAYOUTS`` as loaded from JSON (``refund_layout`` checks it); ValueError if not JSON."""
    text = os.environ.get("KCP_FAKE_REFUND_LAYOUTS", "")
    return json.loads(text) if text.strip() else None


def is_refund(parsed: ParsedArg, layout: Layout) -> bool:
    """A refund: a refund kind's ``tx_cd``, or fields in ``mod_data``, unless it is the verification's ``tx_cd``."""
    tx_cd = parsed.header.get("tx_cd", "")
    if tx_cd == layout.tx_cd:
        return False
    try:
        overrides = _refund_overrides()
        refund_tx_cds = {refund_layout(kind, overrides)["tx_cd"] for kind in REFUND_KINDS}
    except (ValueError, KcpConfigurationError):
        refund_tx_cds = set()
    return tx_cd in refund_tx_cds or bool(parsed.sections.get("modx_data"))


def _read_refund(kind: str, table: Mapping[str, Any], parsed: ParsedArg) -> tuple[RefundCall, list[str]]:
    """The refund of ``kind`` read back from ``mod_data`` through its table, and what did not fit."""
    received = parsed.sections.get("modx_data", {})
    found: dict[str, str] = {}
    problems: list[str] = []
    for name, template in table["fields"].items():
        value = received.get(name, "")
        if not (template.startswith("{") and template.endswith("}")):
            continue
        reference = template[1:-1]
        if reference == "bank_code_bk" and value:
            if not value.startswith("BK"):
                problems.append(f"mod_data.{name} is {value!r}, not KCP's BKxx bank code")
            found.setdefault("bank_code", value[2:])
        elif value:
            found.setdefault(reference, value)
    numbers: dict[str, int | None] = {}
    for name in ("amount", "remaining"):
        text = found.get(name, "")
        if text and not (text.isascii() and text.isdigit()):
            problems.append(f"the {name} {text!r} is not whole won")
        numbers[name] = int(text) if text.isascii() and text.isdigit() else None
    request = RefundCall(
        kind=kind,
        ordr_idxx=parsed.header.get("ordr_idxx", ""),
        tno=found.get("tno", ""),
        mod_type=found.get("mod_type", ""),
        bank_code=found.get("bank_code", ""),
        account_no=found.get("account_no", ""),
        owner_nm=found.get("owner_nm", ""),
        reason=found.get("reason", ""),
        mod_ip=found.get("mod_ip", ""),
        amount=numbers["amount"],
        remaining=numbers["remaining"],
    )
    return request, problems


def _refund_problems(parsed: ParsedArg) -> tuple[RefundCall | None, list[str]]:
    """The refund in ``parsed`` (the kind whose table renders exactly what was received), or why none fits."""
    try:
        overrides = _refund_overrides()
    except ValueError as exc:
        return None, [f"KCP_FAKE_REFUND_LAYOUTS is not valid JSON ({exc})"]
    tx_cd = parsed.header.get("tx_cd", "")
    received = list(parsed.sections.get("modx_data", {}).items())
    problems: list[str] = []
    for kind in REFUND_KINDS:
        try:
            table = refund_layout(kind, overrides)
        except KcpConfigurationError as exc:
            return None, [f"KCP_FAKE_REFUND_LAYOUTS: {exc}"]
        if table["tx_cd"] != tx_cd:
            continue
        request, mine = _read_refund(kind, table, parsed)
        expected = render_refund(request, overrides)
        if expected.mod_data != received:
            sent = ", ".join(name for name, _ in received)
            wanted = ", ".join(name for name, _ in expected.mod_data)
            mine.append(f"as {kind}: mod_data [{sent}] is not what its table renders [{wanted}]")
        if request.mod_type not in REFUND_MOD_TYPES[kind]:
            mine.append(f"as {kind}: mod_type {request.mod_type!r} is not one of {', '.join(REFUND_MOD_TYPES[kind])}")
        if (request.amount is None) != (request.remaining is None):
            mine.append(f"as {kind}: mod_mny and rem_mny go together")
        if not mine:
            return request, []
        problems += mine
    return None, problems or [f"tx_cd {tx_cd!r} is no refund kind's"]


def _refund_answer(parsed: ParsedArg) -> dict[str, str]:
    """The sandbox's answer to a refund, ``{}`` for "no answer", or 8999 for a refund off every table."""
    request, problems = _refund_problems(parsed)
    problems = list(parsed.problems) + problems
    problems += [f"{key} is empty" for key in ("site_cd", "site_key") if not parsed.header.get(key)]
    if request is not None:
        problems += [f"no {name} found" for name in ("tno", "ordr_idxx") if not getattr(request, name)]
        if parsed.header.get("cust_ip", "") != request.mod_ip:
            problems.append("cust_ip is not the refund's mod_ip")
    if request is None or problems:
        _say("refund does not follow the refund layouts: " + "; ".join(problems))
        return {"res_cd": BAD_REQUEST[0], "res_msg": BAD_REQUEST[1], "ordr_idxx": parsed.header.get("ordr_idxx", "")}
    return refund_answer_fields(request)


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
