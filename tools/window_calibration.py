"""Calibration of a GPU window (plan items with a ``calibrate`` entry, step 3 of ``gpu_window``).

Training samples/s of each stage at two batch sizes, eager and ``torch.compile``, channels_last;
FLOP per training sample from ``FlopCounterMode`` and the MFU they imply against the plan's
``peak_flops``; the canonical generator's samples/s per core at the feed levels. A failing case
is recorded as a finding and the next one runs: calibration never ends a window.
"""

from __future__ import annotations

import time


def throughput(
    model_name, stage, batch_size, compiled, channels_last, data, device, seconds, size
) -> dict:
    """Training samples/s of one (model, stage, batch) on a fixed batch; FLOP/sample (eager)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from reference_models import create_model
    from reference_models.normalization import compute_input_stats
    from reference_models.objectives import Objective, batch_from_stream, freeze_for_stage
    from reference_models.training import autocast_for, step_generator

    reps = -(-batch_size // len(data["scene"]))
    host = {k: v.repeat(reps, *[1] * (v.dim() - 1))[:batch_size] for k, v in data.items()}
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    batch = batch_from_stream({k: v.to(device) for k, v in host.items()}, memory_format)
    model = create_model(model_name, size, compute_input_stats([host["scene"]]))
    freeze_for_stage(model, stage)
    model.to(device).train().to(memory_format=memory_format)
    objective = Objective(model, stage)
    step_fn = torch.compile(objective) if compiled else objective
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    autocast = autocast_for("auto", device)  # as training runs there
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def one(i: int, fn=step_fn) -> None:
        with autocast:
            loss, _ = fn(batch, step_generator(0, 0, i, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    result: dict = {"model": model_name, "stage": stage, "batch": batch_size, "compiled": compiled}
    result["channels_last"] = channels_last
    start = time.perf_counter()
    one(0)
    one(1)
    sync()
    result["warmup_s"] = round(time.perf_counter() - start, 2)  # includes compilation
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        one(2 + steps)
        steps += 1
        if steps % 4 == 0:
            sync()
    sync()
    elapsed = time.perf_counter() - start
    result["samples_per_s"] = round(steps * batch_size / elapsed, 1)
    if not compiled and not channels_last:
        with FlopCounterMode(display=False) as counter:
            one(10_000, objective)
        result["gflop_per_sample"] = round(counter.get_total_flops() / batch_size / 1e9, 3)
    return result


def calibrate(window, args, spec: dict, settings: dict, device, floor_s: float, level: int) -> dict:
    """Every case of ``spec`` while more than ``floor_s`` seconds remain for training.

    ``window`` says how many seconds are ``left()`` and logs with ``say``; ``args`` are the
    window command's (``size``, ``workers``, ``omniglot``); the cases train on level ``level``.
    """
    from oneshotbench.datasets import load_split
    from reference_models.feed import job_tensors

    split = load_split("train", level, omniglot=args.omniglot)
    data = job_tensors(split.get(0, max(spec.get("batches", [250]))))
    peak = settings.get("peak_flops") if device.type == "cuda" else None
    cases = []
    for model_name, stage, batch, compiled, channels_last in _cases(spec):
        if window.left() < floor_s:
            cases.append({"model": model_name, "skipped": "deadline"})
            continue
        try:
            case = throughput(
                model_name, stage, batch, compiled, channels_last, data, device,
                spec.get("seconds_per_case", 5), args.size,
            )  # fmt: skip
        except Exception as err:  # a failing case is a finding, not the end of the window
            case = {"model": model_name, "stage": stage, "batch": batch, "error": repr(err)}
        cases.append(case)
        window.say(f"calibration: {case}")
    flops = {
        (c["model"], c["stage"]): c["gflop_per_sample"] for c in cases if "gflop_per_sample" in c
    }
    for case in cases:
        per = flops.get((case.get("model"), case.get("stage")))
        if peak and per and "samples_per_s" in case:
            case["mfu"] = round(per * 1e9 * case["samples_per_s"] / peak, 4)
    feed = []
    for level in spec.get("feed_levels", []):
        n = spec.get("feed_samples", 400)
        start = time.perf_counter()
        load_split("train", level, omniglot=args.omniglot).get(0, n, workers=1)
        per_core = n / (time.perf_counter() - start)
        row = {"level": level, "per_core": round(per_core, 1), "workers": args.workers}
        row["projected_feed"] = round(per_core * args.workers, 1)
        feed.append(row)
        window.say(f"feed: {row}")
    return {"cases": cases, "feed": feed, "peak_flops": peak}


def _cases(spec: dict) -> list[tuple[str, str, int, bool, bool]]:
    """(model, stage, batch, compiled, channels_last): every stage eager, then the variants."""
    small, large = spec.get("batches", [250, 1000])[:2]
    cases = [
        ("siamese_unet", "segmentation", small, False, False),
        ("siamese_unet", "segmentation", large, False, False),
        ("masknet", "proposals", max(1, small // 5), False, False),
        ("masknet", "discriminator", small, False, False),
        ("presegmented_discriminator", "oracle", small, False, False),
        ("siamese_unet", "segmentation", small, False, True),
    ]
    if spec.get("compile"):
        cases.append(("siamese_unet", "segmentation", small, True, False))
    return cases
