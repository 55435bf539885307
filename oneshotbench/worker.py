"""The isolated process that runs a submission: it sees target and scene pixels, nothing else.

Why a separate process: ground truth (masks, instance maps, centres, indices, generator state)
lives only in the harness; the worker is a fresh interpreter that imports this module, the
protocol, the channel (:mod:`oneshotbench.channel`) and the submission, and receives nothing but
target and scene pixels (plus the declared oracle fields of an ``--oracle`` run). It cannot
import the modules that produce ground truth either (:data:`BLOCKED_MODULES`; defence in depth —
the real guarantee for a leaderboard is a private split the submission has never seen). The
harness drives it through :class:`oneshotbench.worker_handle.WorkerHandle`.

Run by the harness as ``python -m oneshotbench.worker FILE CMD_FD REPLY_FD SHM_FD CAPACITY``.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib.abc
import os
import pickle
import signal
import sys
import time
import traceback
from pathlib import Path

import torch

from oneshotbench import protocol
from oneshotbench.channel import map_batch_file, recv, send

BLOCKED_MODULES = (
    "oneshotbench.generator",
    "oneshotbench.datasets",
    "oneshotbench.omniglot",
    "oneshotbench.runner",
    "oneshotbench.cli",
)
"""Modules that can produce benchmark data (or import what does); unimportable in the worker."""


class _Clock:
    """Seconds between laps; on a GPU it waits for queued work first, so each lap is the time
    its stage took rather than the time to launch it."""

    def __init__(self, device: torch.device):
        self._sync = torch.cuda.synchronize if device.type == "cuda" else None
        self._last = time.perf_counter()

    def lap(self) -> float:
        if self._sync is not None:
            self._sync()
        now = time.perf_counter()
        self._last, elapsed = now, now - self._last
        return elapsed


class _GroundTruthBlocker(importlib.abc.MetaPathFinder):
    """Makes the data-producing modules unimportable for the submission (defence in depth)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if any(fullname == m or fullname.startswith(m + ".") for m in BLOCKED_MODULES):
            raise ImportError(
                f"{fullname} cannot be imported inside the evaluation worker: submissions see "
                "only targets and scenes, never the benchmark data or its generator",
                name=fullname,
            )
        return None


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the harness dies, even mid-predict."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Worker:
    """The worker's side of the conversation; every failure goes back as a fault frame."""

    def __init__(self, path: Path, cmd: int, reply: int, shm_fd: int, capacity: int):
        self.path, self.cmd, self.reply = path, cmd, reply
        _, self.views = map_batch_file(shm_fd, capacity)

    def fault(self, kind: str, message: str, sample: int | None = None) -> int:
        send(self.reply, {"op": "fault", "kind": kind, "message": message, "sample": sample})
        return 1

    def run(self) -> int:
        try:
            module = protocol.load_submission(self.path)
        except protocol.SubmissionError as err:
            if err.__cause__ is not None:
                traceback.print_exception(err.__cause__)
            return self.fault("load", str(err))
        try:
            protocol.declared_version(module, self.path)
            fields = protocol.oracle_fields(module, self.path)
            factory = protocol.predictor_factory(module, self.path)
        except protocol.SubmissionError as err:
            return self.fault("protocol", str(err))
        send(self.reply, {"op": "loaded", "oracle_fields": list(fields)})
        message = recv(self.cmd)
        if message is None or message[0].get("op") != "init":
            return 0
        init = message[0]
        device = torch.device(init["device"])
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        oracle = bool(init["oracle"] and fields)
        try:
            predict = factory(device)
        except Exception as err:
            traceback.print_exc()
            return self.fault("exception", f"make_predictor raised {type(err).__name__}: {err}")
        try:
            predict = protocol.check_predict(predict, self.path, 3 if oracle else 2)
        except protocol.SubmissionError as err:
            return self.fault("protocol", str(err))
        send(self.reply, {"op": "ready", "parameters": _parameter_count(module, predict)})
        return self.serve(predict, device)

    def serve(self, predict: protocol.Predict, device: torch.device) -> int:
        while (message := recv(self.cmd)) is not None:
            header, payload = message
            if header.get("op") != "batch":
                return 0
            n = int(header["n"])
            clock = _Clock(device)
            args = [
                protocol.to_model_input(torch.from_numpy(self.views["targets"][:n]), device),
                protocol.to_model_input(torch.from_numpy(self.views["scenes"][:n]), device),
            ]
            if header["oracle"]:
                args.append(self.oracle(header["oracle"], payload, n, device))
            input_s = clock.lap()
            try:
                with torch.no_grad():
                    out = predict(*args)
            except Exception as err:
                traceback.print_exc()
                return self.fault("exception", f"predict raised {type(err).__name__}: {err}")
            try:
                probs, locations = protocol.check_output(out, n, device)
            except protocol.OutputFault as fault:
                return self.fault("output", fault.fault, fault.sample)
            predict_s = clock.lap()
            torch.from_numpy(self.views["probs"][:n]).copy_(probs)
            if locations is not None:
                torch.from_numpy(self.views["locations"][:n]).copy_(locations)
            times = {"input_s": input_s, "predict_s": predict_s, "output_s": clock.lap()}
            send(self.reply, {"op": "done", "locations": locations is not None, **times})
        return 0

    def oracle(self, fields: list[str], payload: bytes, n: int, device: torch.device) -> dict:
        out: dict[str, object] = {}
        if "instance_map" in fields:
            instance_map = torch.from_numpy(self.views["instance_map"][:n])
            out["instance_map"] = instance_map.to(device=device, dtype=torch.int64)
        if "instances" in fields:
            out["instances"] = pickle.loads(payload)  # written by the harness, never by a worker
        return out


def _parameter_count(module: object, predict: object) -> int | None:
    """The submission's own count: a module-level ``PARAMETERS`` (it may be set by
    ``make_predictor``), else the parameters of ``predict`` when it is a torch module."""
    count = getattr(module, "PARAMETERS", None)
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    model = getattr(predict, "__self__", predict)
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters())
    return None


def main(argv: list[str]) -> int:
    """Worker entry point (argv: FILE CMD_FD REPLY_FD SHM_FD CAPACITY)."""
    path, cmd, reply, shm_fd, capacity = argv
    sys.meta_path.insert(0, _GroundTruthBlocker())
    _die_with_parent()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    worker = _Worker(Path(path), int(cmd), int(reply), int(shm_fd), int(capacity))
    return worker.run()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (torch's takes ~1 s); nothing is left to save
