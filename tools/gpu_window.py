#!/usr/bin/env python3
"""One GPU window, one command: check, smoke-test, (calibrate,) train to a deadline, evaluate.

    python3 tools/gpu_window.py W0 --deadline 540 --out $OUT

runs plan item W0 of ``tools/gpu_plan.json`` and ends before ``--deadline`` seconds have passed:

1. environment: Python, torch, CUDA device, the packages the code imports, Omniglot's fingerprint;
2. smoke: two steps of every training stage (U-Net, MaskNet's two stages, an oracle) at L=4 and
   ``oneshotbench evaluate --device DEV`` of the U-Net and MaskNet smoke checkpoints;
3. calibration (items with a ``calibrate`` entry): training samples/s per stage and batch size,
   eager and ``torch.compile``, FLOP per sample from ``FlopCounterMode`` and the MFU they imply,
   and the canonical generator's samples/s per core at the feed levels;
4. training of the item on the authors' exact training split (``reference_models.feed``) until
   the deadline less the evaluation reserve; fp16 weights go to ``OUT/weights.safetensors`` every
   ``checkpoint_seconds`` (atomic writes: a command killed at any moment still returns the last);
5. evaluation of the returned weights: for a U-Net or MaskNet first whether its output still
   depends on its target (``tools/target_dependence.py``; a CPU-trained U-Net went blind to it
   within 20 steps), then val-train and test-one-shot.

``OUT`` ends with at most 7 files, each far under 16 MiB, none in a sub-folder: ``window.json``
(everything measured, rewritten after every phase), ``log.txt``, ``metrics.csv``,
``weights.safetensors`` + ``weights.json``, ``records.tar.gz`` (evaluation records and per-sample
files) and at most one temporary file of an interrupted atomic write. ``--size tiny --device
cpu`` runs the same path on a CPU in well under a minute (the test suite does).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from pathlib import Path

from window_calibration import calibrate  # tools/, beside this script

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the GPU machine runs from a plain checkout, not an install
    sys.path.insert(0, str(ROOT))

REQUIRED = ("numpy", "scipy", "pandas", "matplotlib", "numba", "typer", "rich", "safetensors")
SMOKE_LEVEL = 4
SMOKE_STAGES = (
    ("siamese_unet", "segmentation"),
    ("masknet", "proposals"),
    ("masknet", "discriminator"),
    ("presegmented_discriminator", "oracle"),
)
SUBMISSIONS = {  # model -> (submission file, needs --oracle)
    "siamese_unet": ("siamese_unet.py", False),
    "masknet": ("masknet.py", False),
    "masknet_untargeted": ("masknet_untargeted.py", False),
    "presegmented_discriminator": ("oracle_presegmented.py", True),
    "cluttered_discriminator": ("oracle_cluttered.py", True),
}
TARGET_MATCHING = ("siamese_unet", "masknet")  # networks whose output should follow the target
EXIT_USAGE = 2


class WindowError(Exception):
    """A problem the window cannot work around (bad item, no CUDA, missing package or data)."""


# --------------------------------------------------------------------------- plan


def load_item(plan_path: Path, name: str, size: str) -> tuple[dict, dict]:
    """(plan settings, item) with the plan's ``tiny`` overrides applied for ``--size tiny``."""
    try:
        plan = json.loads(plan_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise WindowError(f"cannot read the plan {plan_path}: {err}") from None
    items = plan.get("items", {})
    if name not in items:
        raise WindowError(f"plan {plan_path} has no item {name!r} (items: {', '.join(items)})")
    item = json.loads(json.dumps(items[name]))
    settings = {k: v for k, v in plan.items() if k not in ("items", "tiny")}
    if size == "tiny":
        tiny = plan.get("tiny", {})
        for key, value in tiny.items():
            if key in item and isinstance(value, dict):
                item[key] = {**item[key], **value}
            elif isinstance(value, dict) and isinstance(settings.get(key), dict):
                settings[key] = {**settings[key], **value}
            elif key not in ("calibrate", "evaluate"):
                settings[key] = value
        item.setdefault("train", {})["batch_size"] = tiny.get("batch_size", 8)
    return settings, item


# --------------------------------------------------------------------------- the window


class Window:
    """Clock, log and the summary file of one window run."""

    def __init__(self, out: Path, deadline_s: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + deadline_s
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.log_file = (out / "log.txt").open("a", buffering=1)
        self.summary: dict = {"deadline_s": deadline_s, "started": time.time(), "phases": {}}
        self.stop_requested = threading.Event()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str) -> None:
        line = f"[{self.elapsed():7.1f}s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")

    def record(self, phase: str, data) -> None:
        self.summary["phases"][phase] = data
        self.save()

    def save(self) -> None:
        from oneshotbench.cache import atomic_write_bytes

        self.summary["elapsed_s"] = round(self.elapsed(), 2)
        text = json.dumps(self.summary, indent=1, default=str)
        atomic_write_bytes(self.out / "window.json", text.encode())


# --------------------------------------------------------------------------- 1. environment


def check_environment(device_name: str, omniglot: str | None) -> dict:
    import torch

    from oneshotbench.omniglot import load_omniglot

    env: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cpus": os.cpu_count(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    if device_name == "cuda" and not torch.cuda.is_available():
        raise WindowError("--device cuda was asked for but torch sees no CUDA device")
    versions, missing = {}, []
    for name in REQUIRED:
        try:
            importlib.import_module(name)
            versions[name] = importlib.metadata.version(name)
        except ImportError:
            missing.append(name)
    env["packages"] = versions
    if missing:
        raise WindowError(f"missing packages: {', '.join(missing)} (see tools/prepare_window.py)")
    start = time.perf_counter()
    glyphs = load_omniglot(omniglot, download=False, progress=False)
    env["omniglot"] = {"fingerprint": glyphs.fingerprint, "load_s": time.perf_counter() - start}
    return env


# --------------------------------------------------------------------------- helpers


def train_stage(config, device, feed, val_batches, window: Window, **kwargs):
    """``reference_models.training.train`` with this window's stop flag and log."""
    from reference_models.training import train

    def on_event(event: dict) -> None:
        if event["event"] in ("train", "val"):
            window.say(
                f"{event['event']} step {event['step']}: loss {event['loss']:.4f} "
                f"{event['metric_name']} {event['metric']:.3f}"
                + (f" {event['samples_per_s']:.0f} samples/s" if "samples_per_s" in event else "")
            )
        extra = kwargs.get("on_event")
        if extra:
            extra(event)

    stop = kwargs.get("stop", window.stop_requested.is_set)
    return train(
        config,
        lambda seed, batch: feed,
        device,
        val_batches=val_batches,
        on_event=on_event,
        stop=stop,
    )


def val_batches_for(level: int, samples: int, batch_size: int, device, omniglot):
    from oneshotbench.datasets import load_split
    from reference_models.objectives import batch_from_samples

    split = load_split("val-train", level, omniglot=omniglot)
    total = min(samples, len(split))
    return [
        batch_from_samples(split.get(i, min(i + batch_size, total)), level, device)
        for i in range(0, total, batch_size)
    ]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that imports this checkout (installed or not)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def evaluate(
    model: str, weights: Path, split: str, level: int, samples: int, device: str, out: Path,
    timeout: float, omniglot: str | None,
) -> dict:  # fmt: skip
    """``oneshotbench evaluate`` of ``weights`` in a subprocess (the command users run).

    ``split`` may name a dataset version as ``test-one-shot@v0`` (default: version 1): the same
    model scored on the pre-fix data is the evidence for cells the data difference explains.
    """
    submission, oracle = SUBMISSIONS[model]
    name, _, version = split.partition("@v")
    command = [
        sys.executable, "-m", "oneshotbench", "evaluate", str(ROOT / "submissions" / submission),
        "--split", name, "--version", version or "1", "--levels", str(level),
        "--samples", str(samples), "--device", device, "--out", str(out), "--no-progress",
        "--timeout", str(int(timeout)),
    ]  # fmt: skip
    command += (["--oracle"] if oracle else []) + (["--omniglot", omniglot] if omniglot else [])
    env = child_env(ONESHOTBENCH_CHECKPOINT=str(weights))
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout + 30, check=False
    )
    result: dict = {"split": split, "returncode": done.returncode}
    result["wall_s"] = round(time.perf_counter() - start, 2)
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout)[-2000:]
        return result
    record = json.loads(out.read_text())
    row = record["levels"][0]
    result.update({k: row.get(k) for k in ("level", "n", "iou", "iou_ci", "loc", "loc_ci")})
    result["sandbox"] = record.get("sandbox", "none")  # the sandbox's GPU check, where bwrap runs
    return result


def target_check(weights: Path, out: Path, omniglot: str | None) -> dict:
    """``tools/target_dependence.py`` on ``weights`` in a subprocess: does the network still use
    its target? A paper-size U-Net trained on a CPU went blind to it within 20 steps (README)."""
    command = [sys.executable, str(ROOT / "tools" / "target_dependence.py"), str(weights),
               "--json", str(out)] + (["--omniglot", omniglot] if omniglot else [])  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=300, check=False
    )
    if done.returncode != 0:
        return {"returncode": done.returncode, "error": (done.stderr or done.stdout)[-2000:]}
    return {"returncode": 0, **json.loads(out.read_text())[0]}


# --------------------------------------------------------------------------- 2. smoke


def smoke(window: Window, args, settings: dict, device, work: Path) -> dict:
    from reference_models.checkpoint import export_checkpoint
    from reference_models.feed import SplitFeed
    from reference_models.training import TrainConfig

    spec = settings.get("smoke", {})
    batch, steps = spec.get("batch_size", 8), spec.get("steps", 2)
    feed = SplitFeed(SMOKE_LEVEL, batch, device=device, workers=0, omniglot=args.omniglot)
    val = val_batches_for(SMOKE_LEVEL, batch, batch, device, args.omniglot)
    results, previous = {}, None
    for model, stage in SMOKE_STAGES:
        start = time.perf_counter()
        init = previous if stage in ("proposals", "discriminator") else None
        config = TrainConfig(
            model=model, level=SMOKE_LEVEL, out_dir=work / "smoke" / f"{model}-{stage}",
            size=args.size, stage=stage, steps=steps, batch_size=batch, init=init,
            log_every=steps, val_every=steps, checkpoint_every=steps,
        )  # fmt: skip
        path = train_stage(config, device, feed, val, window, stop=lambda: False)
        results[f"{model}/{stage}"] = {"ok": True, "wall_s": round(time.perf_counter() - start, 2)}
        window.say(f"smoke {model}/{stage}: ok")
        previous = path
        if model in spec.get("evaluate", ()) and stage != "proposals":
            weights = export_checkpoint(path, work / "smoke" / f"{model}.fp16.safetensors")
            result = evaluate(
                model, weights, "val-train", SMOKE_LEVEL, spec.get("eval_samples", 8),
                str(device), work / "smoke" / f"{model}-eval.json", 120, args.omniglot,
            )  # fmt: skip
            results[f"evaluate {model}"] = result
            # recorded, not fatal: the weights a window trains can still be evaluated elsewhere
            status = "ok" if result["returncode"] == 0 else f"FAILED: {result.get('error')}"
            window.say(
                f"smoke evaluate {model} --device {device}: {status} ({result['wall_s']} s, "
                f"sandbox {result.get('sandbox', '?')})"
            )
    feed.close()
    return results


# --------------------------------------------------------------------------- 4. training


def train_item(window: Window, args, settings: dict, item: dict, device, work: Path) -> dict:
    from oneshotbench.cache import atomic_write_bytes
    from reference_models import model_entry
    from reference_models.checkpoint import METRICS_LOG, export_checkpoint, read_info
    from reference_models.feed import SplitFeed
    from reference_models.training import SCHEDULES, TrainConfig

    spec = item["train"]
    stage = spec.get("stage") or model_entry(spec["model"]).stages[0]
    level = spec["level"]
    batch = spec.get("batch_size") or SCHEDULES[stage].batch_size
    init = Path(args.init) if args.init else None
    if stage in ("proposals", "discriminator") and init is None:
        raise WindowError(f"item {args.item} trains {spec['model']}/{stage}: pass --init WEIGHTS")
    start_step, warmup = 0, spec.get("warmup_steps", 0)  # from scratch: the item's own warm-up
    if init is not None:
        info = read_info(init)
        if (info.model, info.stage, info.level) == (spec["model"], stage, level):
            start_step, warmup = info.step, settings.get("warmup_steps", 200)
    reserve = min(item["evaluate"].get("reserve_s", 100), 0.3 * (window.left()))
    train_until = window.deadline - reserve
    run_dir = work / "run"
    config = TrainConfig(
        model=spec["model"], level=level, out_dir=run_dir, size=args.size, stage=stage,
        steps=spec.get("steps"), batch_size=batch, lr=spec.get("lr"), seed=args.seed,
        init=init, compile=bool(spec.get("compile")), log_every=spec.get("log_every", 50),
        val_every=settings.get("val_every", 1000), checkpoint_every=10**9,
        checkpoint_seconds=settings.get("checkpoint_seconds", 120), start_step=start_step,
        warmup_steps=warmup,
    )  # fmt: skip
    weights = window.out / "weights.safetensors"
    result: dict = {"model": spec["model"], "stage": stage, "level": level, "batch": batch}
    result.update({"init": str(init) if init else None, "start_step": start_step})
    result["warmup_steps"] = warmup
    rates: list[float] = []

    def copy_metrics() -> None:
        metrics = run_dir / METRICS_LOG
        if metrics.exists():
            atomic_write_bytes(window.out / METRICS_LOG, metrics.read_bytes())

    def on_event(event: dict) -> None:
        if event["event"] == "checkpoint":
            export_checkpoint(event["path"], weights)
            copy_metrics()
            result["exported_step"] = event["step"]
            window.record("train", result)
            window.say(f"weights of step {event['step']} -> {weights.name}")
        elif event["event"] == "train":
            rates.append(event["samples_per_s"])
        elif event["event"] == "start":
            result["total_steps"] = event["total"]
            result["parameters"] = event["parameters"]

    feed = SplitFeed(
        level, batch, seed=args.seed, device=device, workers=args.workers, omniglot=args.omniglot
    )
    val = val_batches_for(level, settings.get("val_samples", 1000), batch, device, args.omniglot)
    stop_flag = window.stop_requested
    steps_done = itertools.count(1)  # stop() is asked once after every step

    def stop() -> bool:
        capped = args.max_steps is not None and next(steps_done) >= args.max_steps
        return capped or stop_flag.is_set() or time.monotonic() >= train_until

    started = time.perf_counter()
    train_stage(
        config, device, feed, val, window, on_event=on_event, stop=stop
    )  # fmt: skip
    feed.close()
    copy_metrics()
    result["train_s"] = round(time.perf_counter() - started, 1)
    steps = result.get("exported_step", start_step) - start_step
    result["samples_trained"] = steps * batch
    if rates:
        result["samples_per_s_median"] = sorted(rates)[len(rates) // 2]
    return result


# --------------------------------------------------------------------------- 5. evaluation


def evaluate_item(window: Window, args, item: dict, device, work: Path) -> list[dict]:
    spec, model = item["evaluate"], item["train"]["model"]
    weights = window.out / "weights.safetensors"
    results = []
    for split in spec.get("splits", ["val-train", "test-one-shot", "test-one-shot@v0"]):
        left = window.left() - 10
        if left < 20 or window.stop_requested.is_set():
            results.append({"split": split, "skipped": "deadline"})
            continue
        out = work / "eval" / f"{model}-L{item['train']['level']}-{split.replace('@', '-')}.json"
        result = evaluate(
            model, weights, split, item["train"]["level"], spec.get("samples", 10000),
            str(device), out, left, args.omniglot,
        )  # fmt: skip
        results.append(result)
        window.say(f"evaluate {split}: {result}")
    with tarfile.open(window.out / "records.tar.gz", "w:gz") as tar:
        if (work / "eval").exists():
            tar.add(work / "eval", arcname="eval")
    return results


# --------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("item", help="plan item, e.g. W0 or unet-L8 (tools/gpu_plan.json)")
    parser.add_argument("--deadline", type=float, default=540, help="seconds (default 540)")
    parser.add_argument("--out", type=Path, required=True, help="folder for what comes back")
    parser.add_argument("--size", default="paper", choices=["paper", "tiny"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--init", help="weights to start from (an earlier window's)")
    parser.add_argument("--plan", type=Path, default=ROOT / "tools" / "gpu_plan.json")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new one in /tmp)")
    parser.add_argument("--omniglot", help="Omniglot folder (default: $ONESHOTBENCH_OMNIGLOT)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, help="stop training after N steps (tests)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    window = Window(args.out, args.deadline)
    for sig in (signal.SIGTERM, signal.SIGINT):  # finish the step, export, write the summary
        signal.signal(sig, lambda *_: window.stop_requested.set())
    work = args.work or Path(tempfile.mkdtemp(prefix=f"gpu-window-{args.item}-"))
    os.environ.setdefault("ONESHOTBENCH_CACHE", str(work / "cache"))
    window.summary.update({"item": args.item, "size": args.size, "argv": sys.argv[1:]})
    try:
        settings, item = load_item(args.plan, args.item, args.size)
        window.summary["plan_item"] = item
        window.say(f"item {args.item}: {item.get('title', '')}")
        import torch

        name = (
            args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
        )
        device = torch.device(name)
        window.record("environment", check_environment(name, args.omniglot))
        window.say(f"environment ok: {window.summary['phases']['environment']}")
        window.record("smoke", smoke(window, args, settings, device, work))
        if "calibrate" in item:
            floor = item["evaluate"].get("reserve_s", 100) + settings.get("min_train_s", 120)
            measured = calibrate(
                window, args, item["calibrate"], settings, device, floor, SMOKE_LEVEL
            )
            window.record("calibration", measured)
        window.record("train", train_item(window, args, settings, item, device, work))
        if item["train"]["model"] in TARGET_MATCHING and window.left() > 60:
            check = target_check(
                window.out / "weights.safetensors", work / "target.json", args.omniglot
            )
            window.record("target_dependence", check)
            window.say(f"target dependence: {check}")
        window.record("evaluation", evaluate_item(window, args, item, device, work))
        code = 0
    except WindowError as err:
        window.summary["error"] = str(err)
        window.say(f"error: {err}")
        code = EXIT_USAGE
    except Exception:
        window.summary["error"] = traceback.format_exc()
        window.say(window.summary["error"])
        code = 1
    window.summary["files"] = {p.name: p.stat().st_size for p in sorted(args.out.iterdir())}
    window.save()
    window.say(f"done in {window.elapsed():.1f} s (deadline {args.deadline:.0f} s), exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
