"""Attack: stay small in the worker and allocate the memory in a child process."""

import json
import pathlib
import subprocess
import sys

CONFIG = json.loads((pathlib.Path(__file__).parent / "attack.json").read_text())
HOG = "import time, sys; block = b'x' * int(sys.argv[1]); time.sleep(20)"


def make_predictor(device):
    def predict(targets, scenes):
        subprocess.run([sys.executable, "-c", HOG, str(CONFIG["hog_bytes"])], check=False)
        return (scenes.mean(1) * 2).clamp(max=1)

    return predict
