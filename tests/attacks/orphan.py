"""Attack: start a child that outlives the run (it would rewrite the record afterwards)."""

import json
import pathlib
import subprocess
import sys

CONFIG = json.loads((pathlib.Path(__file__).parent / "attack.json").read_text())
LATER = "import time, sys; time.sleep(3); open(sys.argv[2], 'w').write('forged')"


def make_predictor(device):
    subprocess.Popen(
        [sys.executable, "-c", LATER, CONFIG["token"], CONFIG["record"]],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def predict(targets, scenes):
        return (scenes.mean(1) * 2).clamp(max=1)

    return predict
