"""Attack: read the harness (processes, memory, environment), the secret file, the network, and
write into the journal and the output folder. Raises as soon as any of it works."""

import json
import os
import pathlib
import socket

CONFIG = json.loads((pathlib.Path(__file__).parent / "attack.json").read_text())


def _harness_visible() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                text = pathlib.Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:
                continue
            if text == bytes.fromhex(CONFIG["harness"]) or b"ONESHOTBENCH_CACHE=" in text:
                found.append(f"/proc/{pid}/{part}")
                try:  # the harness's memory: its first readable mapping
                    first = pathlib.Path(f"/proc/{pid}/maps").read_text().split("-")[0]
                    with open(f"/proc/{pid}/mem", "rb") as mem:
                        mem.seek(int(first, 16))
                        mem.read(16)
                    found.append(f"/proc/{pid}/mem")
                except (OSError, ValueError):
                    pass
    return found


def _writes() -> list[str]:
    done = []
    for target in (pathlib.Path(CONFIG["journal"]) / "L999-000000.npz", CONFIG["record"]):
        try:
            pathlib.Path(target).write_bytes(b"forged")
            done.append(f"wrote {target}")
        except OSError:
            pass
    return done


def _leaks() -> list[str]:
    leaks = _harness_visible() + _writes()
    if {"ONESHOTBENCH_CACHE", "PYTEST_CURRENT_TEST"} & set(os.environ):
        leaks.append("the harness's environment")
    for what in ("secret", "elsewhere"):
        try:
            if pathlib.Path(CONFIG[what]).read_bytes():
                leaks.append(f"the {what} file")
        except OSError:
            pass
    try:
        socket.create_connection(("127.0.0.1", CONFIG["port"]), timeout=2).sendall(b"scores?")
        leaks.append("the network")
    except OSError:
        pass
    return leaks


def make_predictor(device):
    def predict(targets, scenes):
        leaks = _leaks()
        if leaks:
            raise RuntimeError(f"attack succeeded: {', '.join(leaks)}")
        return (scenes.mean(1) * 2).clamp(max=1)

    return predict
