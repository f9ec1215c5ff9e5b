"""The real gateway: runs KCP's native client ``pp_cli`` the way KCP's own libraries do.

See ``docs/ppcli.md``. In short: ``[pp_cli, "-h", ARG]`` without a shell, ``ARG`` being 19
``key=value`` tokens joined by ``,`` with EUC-KR text; the answer is the last line of stdout,
``key=value`` fields separated by US (0x1F). Where each field of a verification goes is
:mod:`kcp_django.gateways.ppcli.layout`'s job; a refund is a modification request whose fields
(:mod:`kcp_django.gateways.ppcli.refund_layout`) go in the ``modx_data`` section, sent as
``modx_data=mod_data=k=v<US>...``, with the kind's ``tx_cd`` and ``cust_ip`` = ``mod_ip``.

Outcomes: an answer with a ``res_cd`` (or empty output, which KCP's libraries read as ``9502``)
is a :class:`GatewayResult`. A timeout, a crash, or output that cannot be read raises
:class:`OutcomeUnknown`. A missing binary or a value pp_cli cannot carry raises
:class:`GatewayUnavailable` before anything runs. Never touches the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from kcp_django.exceptions import GatewayUnavailable, KcpConfigurationError, OutcomeUnknown
from kcp_django.gateways.base import GatewayResult, RefundCall, VerificationRequest
from kcp_django.gateways.ppcli.layout import Pairs, RenderedRequest, load_layout, render
from kcp_django.gateways.ppcli.refund_layout import RenderedRefund, render_refund
from kcp_django.masking import mask_value

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

__all__ = [
    "ARG_KEYS",
    "EMPTY_OUTPUT_ANSWER",
    "ENCODING",
    "EXIT_GRACE",
    "FAKE_PP_CLI_MODULE",
    "FAKE_PP_CLI_PROBE_BYTES",
    "FORBIDDEN_BYTES",
    "INHERITED_ENVIRONMENT",
    "PA_PORT",
    "POLL_INTERVAL",
    "STDERR_LIMIT",
    "STDOUT_LIMIT",
    "PpCliArgs",
    "PpCliGateway",
    "ProcessOutput",
    "args_for",
    "build_arg",
    "child_environment",
    "find_binary",
    "is_fake_pp_cli",
    "last_line",
    "mask_sent_values",
    "mask_text",
    "parse_answer",
    "refund_arg",
    "refund_args_for",
    "run_bounded",
]

logger = logging.getLogger(__name__)

US, RS, GS = b"\x1f", b"\x1e", b"\x1d"
#: Bytes no value may hold: ``,`` ends a token; NUL ends argv; 0x1C-0x1F are pp_cli's framing.
FORBIDDEN_BYTES = frozenset(b",\x00\x1c\x1d\x1e\x1f")
#: KCP's order of the tokens of ``ARG``.
ARG_KEYS = (
    "home",
    "site_cd",
    "site_key",
    "tx_cd",
    "pa_url",
    "pa_port",
    "ordr_idxx",
    "payx_data",
    "ordr_data",
    "rcvr_data",
    "escw_data",
    "modx_data",
    "enc_data",
    "enc_info",
    "trace_no",
    "cust_ip",
    "log_path",
    "log_level",
    "opt",
)
PA_PORT = "8090"
#: EUC-KR as KCP's samples use it; CP949 is its superset and decodes whatever EUC-KR does.
ENCODING = "cp949"
STDOUT_LIMIT = 64 * 1024
STDERR_LIMIT = 16 * 1024
#: What KCP's libraries make of empty output: a "no" answer, not an unknown one.
EMPTY_OUTPUT_ANSWER = {"res_cd": "9502", "res_msg": "연동 모듈 호출 오류"}
#: How long to keep reading after pp_cli exited (its process group is killed at once).
EXIT_GRACE = 0.5
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class PpCliArgs:
    """Everything that goes into ``ARG``, as text; :func:`build_arg` frames and encodes it."""

    home: str
    site_cd: str
    site_key: str = field(repr=False)
    tx_cd: str = ""
    pa_url: str = ""
    pa_port: str = PA_PORT
    ordr_idxx: str = ""
    payx_data: Sequence[tuple[str, Pairs]] = ()
    ordr_data: Pairs = field(default_factory=list)
    rcvr_data: Pairs = field(default_factory=list)
    escw_data: Pairs = field(default_factory=list)
    modx_data: Pairs = field(default_factory=list)
    enc_data: str = ""
    enc_info: str = ""
    trace_no: str = ""
    cust_ip: str = ""
    log_path: str = ""
    log_level: str = "3"
    opt: str = "0"


def _encode(where: str, value: str) -> bytes:
    try:
        encoded = value.encode(ENCODING)
    except UnicodeEncodeError:
        raise GatewayUnavailable(
            f"refused before running pp_cli: {where} holds characters EUC-KR/CP949 cannot encode; nothing was sent."
        ) from None
    if FORBIDDEN_BYTES.intersection(encoded):
        raise GatewayUnavailable(
            f"refused before running pp_cli: {where} holds ',', NUL or a framing character (0x1C-0x1F), "
            "which pp_cli cannot carry; nothing was sent."
        )
    return encoded


def _pairs(where: str, pairs: Pairs, separator: bytes) -> bytes:
    """``k=v<sep>`` for every pair with a value, as KCP's libraries leave empty ones out."""
    out = b""
    for name, value in pairs:
        if value:
            key = _encode(f"the name {where}.{name}", name)
            out += key + b"=" + _encode(f"the value of {where}.{name}", value) + separator
    return out


def _section(inner_name: str, where: str, pairs: Pairs, separator: bytes = US) -> bytes:
    body = _pairs(where, pairs, separator)
    return inner_name.encode() + b"=" + body if body else b""


def _payx(records: Sequence[tuple[str, Pairs]]) -> bytes:
    # KCP's library always starts payx_data with its own name, even when it holds no sub-record.
    out = b"payx_data="
    for sub, pairs in records:
        body = _pairs(f"payx_data.{sub}", pairs, US)
        if body:
            out += _encode(f"the sub-record name payx_data.{sub}", sub) + b"=" + body + RS
    return out


def build_arg(args: PpCliArgs) -> bytes:
    """The ``ARG`` of ``pp_cli -h ARG``, byte for byte as KCP's ``pp_cli_hub_lib.php`` builds it.

    Raises :class:`GatewayUnavailable` for a value pp_cli cannot carry.
    """
    values = {
        "payx_data": _payx(args.payx_data),
        "ordr_data": _section("ordr_data", "ordr_data", args.ordr_data),
        "rcvr_data": _section("rcvr_data", "rcvr_data", args.rcvr_data),
        "escw_data": _section("escw_data", "escw_data", args.escw_data, GS),
        "modx_data": _section("mod_data", "modx_data", args.modx_data),
    }
    tokens = []
    for key in ARG_KEYS:
        value = values[key] if key in values else _encode(key, str(getattr(args, key)))
        tokens.append(key.encode() + b"=" + value)
    return b",".join(tokens)


def _merchant_args(merchant: MerchantConfig, *, tx_cd: str, ordr_idxx: str, cust_ip: str, **sections: Any) -> PpCliArgs:
    """The arguments every request of ``merchant`` shares, with this request's own parts."""
    return PpCliArgs(
        home=merchant.home_dir,
        site_cd=merchant.site_cd,
        site_key=merchant.site_key,
        tx_cd=tx_cd,
        pa_url=merchant.gateway_host,
        pa_port=PA_PORT,
        ordr_idxx=ordr_idxx,
        cust_ip=cust_ip,
        log_path=merchant.log_dir,
        log_level=str(merchant.log_level),
        opt="0",
        **sections,
    )


def args_for(merchant: MerchantConfig, rendered: RenderedRequest) -> PpCliArgs:
    """pp_cli's arguments for one rendered request of ``merchant``."""
    return _merchant_args(
        merchant,
        tx_cd=rendered.tx_cd,
        ordr_idxx=rendered.ordr_idxx,
        cust_ip=rendered.cust_ip,
        payx_data=rendered.payx_data,
        ordr_data=rendered.sections.get("ordr_data", []),
        rcvr_data=rendered.sections.get("rcvr_data", []),
        escw_data=rendered.sections.get("escw_data", []),
        modx_data=rendered.sections.get("modx_data", []),
    )


def refund_args_for(merchant: MerchantConfig, rendered: RenderedRefund, mod_ip: str = "") -> PpCliArgs:
    """pp_cli's arguments for one rendered refund of ``merchant``: a modification request.

    The fields go in ``modx_data`` (framed as ``mod_data=k=v<US>...``), ``cust_ip`` is the
    requester's ``mod_ip``, and the other sections stay empty.
    """
    return _merchant_args(
        merchant, tx_cd=rendered.tx_cd, ordr_idxx=rendered.ordr_idxx, cust_ip=mod_ip, modx_data=list(rendered.mod_data)
    )


def refund_arg(merchant: MerchantConfig, request: RefundCall) -> bytes:
    """The ``ARG`` of one refund, with the merchant's ``REFUND_LAYOUTS`` merged over the default.

    Raises :class:`GatewayUnavailable` for a broken ``REFUND_LAYOUTS`` or a value pp_cli cannot carry.
    """
    try:
        rendered = render_refund(request, merchant.options.get("REFUND_LAYOUTS"))
    except KcpConfigurationError as exc:
        raise GatewayUnavailable(f"pp_cli not run: {exc}") from None
    return build_arg(refund_args_for(merchant, rendered, request.mod_ip))


def find_binary(merchant: MerchantConfig) -> str:
    """``OPTIONS['BIN']``, else ``{HOME_DIR}/bin/pp_cli_x64`` when present, else ``{HOME_DIR}/bin/pp_cli``."""
    if merchant.bin:
        candidate = merchant.bin
    elif merchant.home_dir:
        x64 = os.path.join(merchant.home_dir, "bin", "pp_cli_x64")
        candidate = x64 if os.path.exists(x64) else os.path.join(merchant.home_dir, "bin", "pp_cli")
    else:
        raise GatewayUnavailable(
            f"pp_cli: merchant {merchant.alias!r} sets neither OPTIONS['HOME_DIR'] nor OPTIONS['BIN']; set "
            "HOME_DIR (KCP_HOME_DIR) to the folder holding KCP's bin/pp_cli (KCP's g_conf_home_dir)."
        )
    if not os.path.isfile(candidate):
        raise GatewayUnavailable(
            f"pp_cli not found at {candidate}: install KCP's client there (bin/pp_cli or bin/pp_cli_x64 under "
            "OPTIONS['HOME_DIR'], KCP_HOME_DIR) or point OPTIONS['BIN'] (KCP_BIN) at it."
        )
    if not os.access(candidate, os.X_OK):
        raise GatewayUnavailable(f"pp_cli at {candidate} is not executable: run `chmod 755 {candidate}`.")
    return candidate


#: What every launcher of kcp-django's fake pp_cli names in its first bytes (the ``kcp-fake-pp-cli``
#: console script, a ``python -m`` wrapper); KCP's binary is machine code that never holds it.
FAKE_PP_CLI_MODULE = b"kcp_django.testing.fake_pp_cli"
#: How much of the binary :func:`is_fake_pp_cli` reads: a launcher script is a few hundred bytes.
FAKE_PP_CLI_PROBE_BYTES = 4096


def is_fake_pp_cli(binary: str) -> bool:
    """Whether ``binary`` (a path :func:`find_binary` returned) launches kcp-django's fake pp_cli.

    One read of its first few KiB, nothing run: cheap enough for every request's readiness check.
    """
    try:
        with open(binary, "rb") as handle:
            head = handle.read(FAKE_PP_CLI_PROBE_BYTES)
    except OSError:
        return False
    return FAKE_PP_CLI_MODULE in head


# --- running the process ---------------------------------------------------------------------


class _Tail:
    """The last ``limit`` bytes of a stream; everything before is drained and dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
            self.truncated = True


@dataclass(frozen=True)
class ProcessOutput:
    """How one bounded run ended. ``returncode`` is negative for a signal, ``None`` on timeout."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    elapsed: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def _leader_exited(pid: int) -> bool:
    # WNOWAIT leaves the zombie in place, so its pid (the group id) cannot be reused before killpg.
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _pump(proc: subprocess.Popen[bytes], tails: dict[int, _Tail], deadline: float) -> bool:
    """Read both pipes until EOF, the leader's exit (plus a grace) or the deadline. True on timeout."""
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in tails:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and _leader_exited(proc.pid):
                exited_at = now
                _kill_group(proc.pid)  # a grandchild holding the pipe must not keep us waiting
            if exited_at is None and now >= deadline:
                return True
            limit = deadline if exited_at is None else exited_at + EXIT_GRACE
            if now >= limit:
                break
            for key, _ in selector.select(min(POLL_INTERVAL, limit - now)):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    tails[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    return exited_at is None and _wait_for_leader(proc.pid, deadline)


def _wait_for_leader(pid: int, deadline: float) -> bool:
    """Wait for the leader's exit (left unreaped) until ``deadline``; True on timeout.

    Its pipes close a moment before it becomes a zombie. A pidfd (Linux 5.3+) wakes us the moment it
    exits; elsewhere we poll, which costs up to one poll interval per call.
    """
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while not _leader_exited(pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if pidfd is None:
                time.sleep(min(0.01, remaining))
            else:
                select.select([pidfd], [], [], remaining)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return False


#: What pp_cli may see of our environment: never the server's secrets (site key, SECRET_KEY,
#: DATABASE_URL...). ``KCP_FAKE_*`` steers kcp-django's fake client in tests.
INHERITED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def child_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in INHERITED_ENVIRONMENT or name.startswith("KCP_FAKE_")
    }


def run_bounded(
    argv: Sequence[str | bytes],
    timeout: float,
    *,
    stdout_limit: int = STDOUT_LIMIT,
    stderr_limit: int = STDERR_LIMIT,
) -> ProcessOutput:
    """Run ``argv`` (no shell) in its own process group, with a deadline and bounded output.

    Whatever happens, the whole process group is killed and reaped before returning: nothing
    started here outlives the call. Raises :class:`OSError` when the program cannot be started.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        env=child_environment(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = _Tail(stdout_limit), _Tail(stderr_limit)
    timed_out = True
    try:
        timed_out = _pump(proc, {proc.stdout.fileno(): out, proc.stderr.fileno(): err}, start + timeout)
    finally:
        _kill_group(proc.pid)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return ProcessOutput(
        returncode=None if timed_out else proc.returncode,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        stdout_truncated=out.truncated,
        elapsed=time.monotonic() - start,
    )


# --- reading the answer ----------------------------------------------------------------------


def last_line(stdout: bytes) -> bytes:
    """The last non-blank line of ``stdout``, as KCP's libraries read the result."""
    return stdout.rstrip().rpartition(b"\n")[2].rstrip()


def parse_answer(line: bytes) -> dict[str, str]:
    """``k=v<US>k=v`` decoded from CP949, each piece split at its first ``=``.

    Raises :class:`UnicodeDecodeError` for bytes that are not CP949.
    """
    fields: dict[str, str] = {}
    for piece in line.decode(ENCODING).split("\x1f"):
        key, _, value = piece.partition("=")
        if key.strip(" \t"):
            fields[key.strip(" \t")] = value
    return fields


_TEXT_SEPARATORS = re.compile(r"([,\x1c-\x1f\s&;]+)")


def mask_text(text: str, sent: Mapping[str, str]) -> str:
    """Free text from pp_cli (its stderr) with sensitive values masked.

    Every ``name=value`` token is masked by its field name (:func:`kcp_django.masking.mask_value`);
    then any sensitive value we sent (``sent``: field name -> value) still left is masked the same way.
    """
    pieces = _TEXT_SEPARATORS.split(text)
    for index, piece in enumerate(pieces):
        head, sep, value = piece.rpartition("=")
        if sep:
            pieces[index] = head + "=" + mask_value(head.rpartition("=")[2], value)
    masked = "".join(pieces)
    for name, value in sent.items():
        if len(value) >= 2:
            masked = masked.replace(value, mask_value(name, value))
    return masked


def mask_sent_values(fields: Mapping[str, str], sent: Mapping[str, str]) -> dict[str, str]:
    """``fields`` with any value equal to a sensitive value we sent masked like it, whatever its field is
    called (KCP's refund fields ``refund_account``/``refund_nm`` are not names the shared masking knows)."""
    masked = dict(fields)
    for key, value in fields.items():
        for name, secret in sent.items():
            if len(secret) >= 2 and value.strip() == secret:
                masked[key] = mask_value(name, secret)
    return masked


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# --- the gateway -----------------------------------------------------------------------------


class PpCliGateway:
    """KCP's account certification, and refunds to a checked account, through the native ``pp_cli`` client."""

    #: It sends every request to KCP (see :class:`~kcp_django.gateways.base.Gateway`).
    is_test_double: ClassVar[bool] = False

    def __init__(self, merchant: MerchantConfig) -> None:
        self.merchant = merchant

    @staticmethod
    def check_ready(merchant: MerchantConfig) -> None:
        """Raise :class:`KcpConfigurationError` when no request of ``merchant`` could be sent: no
        ``HOME_DIR``/``BIN``, a missing or non-executable binary, a broken ``OPTIONS['LAYOUT']``, or,
        in real mode, kcp-django's fake pp_cli in place of KCP's (it would answer without asking KCP).

        A few ``stat`` calls, the first KiB of the binary in real mode, and the layout's validation;
        nothing is run.
        """
        try:
            binary = find_binary(merchant)
        except GatewayUnavailable as exc:
            raise KcpConfigurationError(f"KCP_MERCHANTS[{merchant.alias!r}]['OPTIONS']: {exc.reason}") from None
        if merchant.mode == "real" and is_fake_pp_cli(binary):
            raise KcpConfigurationError(
                f"KCP_MERCHANTS[{merchant.alias!r}]['OPTIONS']: {binary} is kcp-django's fake pp_cli "
                "(kcp-fake-pp-cli), a test double that never asks KCP, and the merchant is in real mode: "
                "install KCP's own pp_cli from the kit of your contract there."
            )
        try:
            load_layout(merchant.options.get("LAYOUT"))
        except KcpConfigurationError as exc:
            named = str(exc).replace("KCP_MERCHANTS[...]", f"KCP_MERCHANTS[{merchant.alias!r}]", 1)
            raise KcpConfigurationError(named) from None

    def verify(self, request: VerificationRequest) -> GatewayResult:
        binary = find_binary(self.merchant)
        try:
            layout = load_layout(self.merchant.options.get("LAYOUT"))
        except KcpConfigurationError as exc:
            raise GatewayUnavailable(f"pp_cli not run: {exc}") from None
        arg = build_arg(args_for(self.merchant, render(layout, request)))
        sent = {"site_key": self.merchant.site_key, "account_no": request.account_no, "owner_nm": request.owner_nm}
        return self._call(binary, arg, sent, request.ordr_idxx)

    def refund(self, request: RefundCall) -> GatewayResult:
        """Send one refund (a modification request, ``docs/refunds.md``) and read KCP's answer.

        Same outcomes as :meth:`verify`; the refund is sent at most once per call, never retried.
        """
        binary = find_binary(self.merchant)
        arg = refund_arg(self.merchant, request)
        sent = {"site_key": self.merchant.site_key, "account_no": request.account_no, "owner_nm": request.owner_nm}
        return self._call(binary, arg, sent, request.ordr_idxx)

    def _call(self, binary: str, arg: bytes, sent: Mapping[str, str], ordr_idxx: str) -> GatewayResult:
        """Run pp_cli once with ``arg`` and read its answer; ``sent`` values are masked in its stderr."""
        try:
            output = run_bounded([os.fsencode(binary), b"-h", arg], self.merchant.timeout)
        except OSError as exc:
            raise GatewayUnavailable(
                f"could not start pp_cli at {binary}: {exc.strerror}; check that it is KCP's Linux binary "
                "for this machine (pp_cli_x64 on 64-bit hosts), uploaded in binary mode."
            ) from None
        try:
            result = self._interpret(output, mask_text(output.stderr.decode(ENCODING, "replace"), sent))
        except OutcomeUnknown as exc:
            logger.warning("pp_cli gave no trustworthy answer for ordr_idxx=%s: %s", ordr_idxx, exc.reason)
            raise
        logger.info("pp_cli answered res_cd=%s for ordr_idxx=%s in %.2fs", result.res_cd, ordr_idxx, output.elapsed)
        return dataclasses.replace(result, raw=mask_sent_values(result.raw, sent))

    def _interpret(self, output: ProcessOutput, stderr: str) -> GatewayResult:
        extra = {"_stderr": stderr} if stderr.strip() else {}

        def unknown(reason: str) -> OutcomeUnknown:
            if stderr.strip():
                reason += f" (stderr: {stderr.strip()[-300:]})"
            return OutcomeUnknown(f"pp_cli: {reason}", raw=extra)

        if output.returncode is None:
            raise unknown(f"no answer within {self.merchant.timeout:g}s; its process group was killed")
        if output.returncode < 0:
            raise unknown(f"killed by signal {_signal_name(-output.returncode)}")
        line = last_line(output.stdout)
        if output.stdout_truncated and b"\n" not in output.stdout.rstrip():
            raise unknown(f"its last output line is longer than {STDOUT_LIMIT} bytes")
        if not line:
            if output.returncode:
                raise unknown(f"exited with status {output.returncode} and printed nothing")
            fields = dict(EMPTY_OUTPUT_ANSWER)
        else:
            try:
                fields = parse_answer(line)
            except UnicodeDecodeError:
                raise unknown("its answer is not EUC-KR/CP949 text") from None
            if not fields.get("res_cd", "").strip():
                raise unknown(f"its last line has no res_cd (exit status {output.returncode})")
        if output.returncode:
            extra["_exit_status"] = str(output.returncode)
        return GatewayResult.from_fields({**fields, **extra})
