"""The harness-side handle that starts the worker process, feeds it batches and enforces limits.

The handle starts the worker (:mod:`oneshotbench.worker`) through :mod:`oneshotbench.sandbox`
(its own namespaces under bubblewrap, or a plain process with ``mode="none"``) and enforces the
limits: a time limit per batch (also for loading and ``make_predictor``), a total time limit,
and a memory limit over the worker's whole process tree; any failure becomes a
:class:`WorkerFault` that carries the tail of the submission's own stdout/stderr. Closing the
handle ends every process the submission started.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import select
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import psutil

from oneshotbench import protocol, sandbox
from oneshotbench.channel import (
    FAULT_KINDS,
    HEADER,
    MAX_REPLY,
    WORKER_TIMES,
    anonymous_file,
    map_batch_file,
    region_layout,
    send,
)

_POLL_S = 0.02
_MEMORY_POLL_S = 0.1  # summing a process tree's memory costs more than a pipe poll
STARTUP_TIMEOUT = 120.0  # s; the least time loading the submission and make_predictor get


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker; None switches a limit off."""

    batch_timeout: float | None = None  # s per batch (start-up gets at least STARTUP_TIMEOUT)
    timeout: float | None = None  # s for the worker's whole life
    memory: int | None = None  # bytes of memory of every process of the submission


class WorkerFault(Exception):
    """The submission failed; ``kind`` says how, ``sample`` is the position in the batch."""

    def __init__(self, kind: str, detail: str, sample: int | None = None, log_tail: str = ""):
        super().__init__(detail)
        self.kind, self.detail, self.sample, self.log_tail = kind, detail, sample, log_tail


def log_tail(path: Path, max_lines: int = 30, max_chars: int = 4000) -> str:
    """The last lines of a worker log (the submission's own stdout and stderr)."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - max_chars))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-max_lines:])


class WorkerHandle:
    """Starts the worker, feeds it batches and enforces the limits; use as a context manager.

    Construction only spawns the process (its start-up overlaps whatever the harness does next);
    :meth:`load` waits until the file is imported and checked, so its ``ORACLE_FIELDS`` are known
    before :meth:`start` calls ``make_predictor``.
    """

    def __init__(
        self,
        submission: Path,
        *,
        capacity: int,
        limits: Limits,
        log_path: Path,
        mode: str = "none",
        layout: sandbox.Layout | None = None,
        env: dict[str, str] | None = None,
    ):
        self.submission, self.capacity, self.limits, self.log_path = (
            Path(submission),
            capacity,
            limits,
            Path(log_path),
        )
        self._inbox = b""
        self._batch = 0
        self.parameters: int | None = None  # as the submission reports it (after start)
        self.times: dict[str, float] = dict.fromkeys(WORKER_TIMES, 0.0)  # of the last batch
        folder = self.submission.resolve().parent
        if layout is None:
            layout = sandbox.Layout((*sandbox.python_paths(), folder), workdir=folder)
        if env is None:
            env = sandbox.worker_env(sandboxed=mode == "bubblewrap")
        # the worker runs this very oneshotbench (a harness started from a checkout or a copy
        # may differ from the installed one, and the scrubbed environment has no PYTHONPATH)
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")])),
        }
        self._next_poll = 0.0
        shm_fd = anonymous_file(region_layout(capacity)[1])
        self._buffer, self._views = map_batch_file(shm_fd, capacity)
        cmd_r, self._cmd = os.pipe()
        self._reply, reply_w = os.pipe()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "oneshotbench.worker",
            str(self.submission.resolve()),
            str(cmd_r),
            str(reply_w),
            str(shm_fd),
            str(capacity),
        ]
        try:
            with open(self.log_path, "wb") as log:
                self._sandbox = sandbox.launch(
                    command,
                    mode=mode,
                    layout=layout,
                    env=env,
                    memory_limit=limits.memory,
                    stdout=log.fileno(),
                    pass_fds=(cmd_r, reply_w, shm_fd),
                )
        finally:
            for fd in (cmd_r, reply_w, shm_fd):
                os.close(fd)
        self._proc = self._sandbox.proc
        self._started = time.monotonic()

    def load(self) -> tuple[str, ...]:
        """Wait until the submission is imported and checked; returns its ORACLE_FIELDS."""
        loaded = self._wait("loading the submission", startup=True)
        fields = loaded.get("oracle_fields", [])
        return tuple(f for f in fields if f in protocol.ORACLE_FIELD_NAMES)

    def __enter__(self) -> WorkerHandle:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        if kind is not None:  # the run failed: no need to wait for a graceful exit
            self._kill()
        self.close()

    def start(self, device: str, oracle: bool) -> None:
        """Call ``make_predictor(device)``; with ``oracle`` predict gets the declared fields."""
        self._send({"op": "init", "device": device, "oracle": oracle})
        ready = self._wait("make_predictor", startup=True)
        count = ready.get("parameters")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            self.parameters = count

    def submit(
        self,
        scenes: np.ndarray,
        targets: np.ndarray,
        instance_map: np.ndarray | None = None,
        instances: list | None = None,
    ) -> None:
        """Hand one batch of uint8 pixels (and oracle fields, if any) to the worker."""
        n = len(scenes)
        self._views["scenes"][:n] = scenes
        self._views["targets"][:n] = targets
        fields = []
        if instance_map is not None:
            self._views["instance_map"][:n] = instance_map
            fields.append("instance_map")
        payload = b""
        if instances is not None:
            payload = pickle.dumps(instances, protocol=pickle.HIGHEST_PROTOCOL)
            fields.append("instances")
        self._batch = n
        self._send({"op": "batch", "n": n, "oracle": fields}, payload)

    def collect(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Wait for the submitted batch: float32 probabilities [B,96,96] and optional locations.

        :attr:`times` then holds the worker's own seconds for the batch (``input_s``,
        ``predict_s``, ``output_s``): diagnostics only, so implausible values read as 0.
        """
        reply = self._wait("predict")
        self.times = {key: _seconds(reply.get(key)) for key in WORKER_TIMES}
        n = self._batch
        probs = self._views["probs"][:n].copy()
        locations = self._views["locations"][:n].copy() if reply.get("locations") is True else None
        return probs, locations

    def close(self) -> None:
        """Ask the worker to exit, then end every process it left (or kill it after 5 s)."""
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                send(self._cmd, {"op": "exit"})
            with contextlib.suppress(OSError, ValueError):  # poll until it exits or time is up
                deadline = time.monotonic() + 5
                while self._proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
        self._sandbox.kill()
        for fd in (self._cmd, self._reply):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._cmd = self._reply = -1
        with contextlib.suppress(BufferError, ValueError):
            self._views.clear()
            self._buffer.close()

    def _send(self, header: dict, payload: bytes = b"") -> None:
        with contextlib.suppress(OSError):  # the worker is gone; _wait reports how it ended
            send(self._cmd, header, payload)

    def _kill(self, dump_stacks: bool = False) -> None:
        if dump_stacks and self._proc.poll() is None:  # faulthandler writes every thread's stack
            for pid in self._worker_pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGUSR1)
            time.sleep(0.3)
        self._sandbox.kill()

    def _worker_pids(self) -> list[int]:
        """The worker interpreter (under bwrap a grandchild of the launched process)."""
        if self._sandbox.mode == "none":
            return [self._proc.pid]
        try:
            tree = psutil.Process(self._proc.pid).children(recursive=True)
            return [p.pid for p in tree if "oneshotbench.worker" in p.cmdline()[:3]]
        except psutil.Error:
            return []

    def _fail(
        self, kind: str, detail: str, sample: int | None = None, dump: bool = False
    ) -> NoReturn:
        self._kill(dump_stacks=dump)
        raise WorkerFault(kind, detail, sample, log_tail(self.log_path))

    def _deadline(self, step: str, startup: bool) -> tuple[float, str]:
        """The earliest of the batch and total deadlines, with what to say when it passes.

        Start-up steps (interpreter, imports, ``make_predictor``) get at least
        :data:`STARTUP_TIMEOUT`, so a tight per-batch limit does not trip over importing torch.
        """
        batch, total = self.limits.batch_timeout, self.limits.timeout
        candidates = [(float("inf"), "")]
        if batch is not None:
            batch = max(batch, STARTUP_TIMEOUT) if startup else batch
            late = f"{step} took longer than the batch time limit of {batch:g} s"
            candidates.append((time.monotonic() + batch, late))
        if total is not None:
            late = f"the total time limit of {total:g} s ran out during {step}"
            candidates.append((self._started + total, late))
        return min(candidates)

    def _wait(self, step: str, startup: bool = False) -> dict:
        """Next reply from the worker, polling its liveness, memory and the deadlines."""
        deadline, late = self._deadline(step, startup)
        while True:
            frame = self._parse_inbox()
            if frame is not None:
                if self.limits.memory is not None:  # a child may have been killed meanwhile
                    self._check_memory(step)
                return self._check_reply(frame, step)
            now = time.monotonic()
            if now >= deadline:
                self._fail("timeout", late, dump=True)
            if self.limits.memory is not None and now >= self._next_poll:
                self._check_memory(step)
                self._next_poll = now + _MEMORY_POLL_S
            ready, _, _ = select.select([self._reply], [], [], min(_POLL_S, deadline - now))
            if ready:
                chunk = os.read(self._reply, 1 << 16)
                if chunk:
                    self._inbox += chunk
                    continue
                code = self._sandbox.exit_status(self._proc.wait())
                if self.limits.memory is not None:
                    self._check_memory(step)
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                hint = " — perhaps the system ran out of memory" if code == -signal.SIGKILL else ""
                self._fail("died", f"the submission's process ended ({how}) during {step}{hint}")

    def _check_memory(self, step: str) -> None:
        """Fail when the submission's processes together use more than the limit, or when the
        kernel already killed one of them for it (a cgroup enforces the limit between polls)."""
        limit = self.limits.memory
        assert limit is not None
        memory = self._sandbox.memory
        with contextlib.suppress(OSError, ValueError):
            used = memory.usage()
            if memory.oom_killed():
                self._fail(
                    "memory",
                    f"{step} used more than the memory limit of {limit / 2**20:.0f} MiB (all "
                    "the submission's processes together), so the kernel ended one of them",
                )
            if used is not None and used > limit:
                self._fail(
                    "memory",
                    f"{step} used {used / 2**20:.0f} MiB, more than the memory limit of "
                    f"{limit / 2**20:.0f} MiB (all the submission's processes together)",
                )

    def _parse_inbox(self) -> dict | None:
        if len(self._inbox) < HEADER.size:
            return None
        n_header, n_payload = HEADER.unpack(self._inbox[: HEADER.size])
        if n_header + n_payload > MAX_REPLY:
            self._fail("protocol", "the worker sent an oversized message")
        end = HEADER.size + n_header + n_payload
        if len(self._inbox) < end:
            return None
        body, self._inbox = self._inbox[HEADER.size : HEADER.size + n_header], self._inbox[end:]
        try:
            frame = json.loads(body)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._fail("protocol", "the worker sent an unreadable message")
        return frame

    def _check_reply(self, frame: dict, step: str) -> dict:
        if frame.get("op") != "fault":
            return frame
        kind = frame.get("kind") if frame.get("kind") in FAULT_KINDS else "protocol"
        sample = frame.get("sample")
        if not (isinstance(sample, int) and 0 <= sample < max(self._batch, 1)):
            sample = None
        self._fail(kind, str(frame.get("message", f"{step} failed"))[:4000], sample)


def _seconds(value: object) -> float:
    ok = isinstance(value, float) and math.isfinite(value) and 0 <= value < 1e6
    return value if ok else 0.0
