"""Pure decoding: PNG bytes -> stroke mask, file listing -> the original's ordered structure.

Knows no files: the set readers (:mod:`.sources`) hand it names and bytes.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oneshotbench.errors import DataError
from oneshotbench.omniglot.glyphset import N_DRAWERS, SIZE

SETS = ("images_background", "images_evaluation")

#: set -> alphabet -> number of characters, as in the canonical release.
OMNIGLOT_ALPHABETS: Mapping[str, Mapping[str, int]] = {
    "images_background": {
        "Alphabet_of_the_Magi": 20,
        "Anglo-Saxon_Futhorc": 29,
        "Arcadian": 26,
        "Armenian": 41,
        "Asomtavruli_(Georgian)": 40,
        "Balinese": 24,
        "Bengali": 46,
        "Blackfoot_(Canadian_Aboriginal_Syllabics)": 14,
        "Braille": 26,
        "Burmese_(Myanmar)": 34,
        "Cyrillic": 33,
        "Early_Aramaic": 22,
        "Futurama": 26,
        "Grantha": 43,
        "Greek": 24,
        "Gujarati": 48,
        "Hebrew": 22,
        "Inuktitut_(Canadian_Aboriginal_Syllabics)": 16,
        "Japanese_(hiragana)": 52,
        "Japanese_(katakana)": 47,
        "Korean": 40,
        "Latin": 26,
        "Malay_(Jawi_-_Arabic)": 40,
        "Mkhedruli_(Georgian)": 41,
        "N_Ko": 33,
        "Ojibwe_(Canadian_Aboriginal_Syllabics)": 14,
        "Sanskrit": 42,
        "Syriac_(Estrangelo)": 23,
        "Tagalog": 17,
        "Tifinagh": 55,
    },
    "images_evaluation": {
        "Angelic": 20,
        "Atemayar_Qelisayer": 26,
        "Atlantean": 26,
        "Aurek-Besh": 26,
        "Avesta": 26,
        "Ge_ez": 26,
        "Glagolitic": 45,
        "Gurmukhi": 45,
        "Kannada": 41,
        "Keble": 26,
        "Malayalam": 47,
        "Manipuri": 40,
        "Mongolian": 30,
        "Old_Church_Slavonic_(Cyrillic)": 45,
        "Oriya": 46,
        "Sylheti": 28,
        "Syriac_(Serto)": 23,
        "Tengwar": 25,
        "Tibetan": 42,
        "ULOG": 26,
    },
}

_DRAWER_FILE = re.compile(r"^\d+_(\d+)\.png$")


def decode_png(data: bytes, name: str) -> np.ndarray:
    """Stroke mask (bool [105, 105]) of one Omniglot PNG; ``name`` only labels errors.

    Equivalent to the original's convert('L') -> invert -> convert('1') for black-and-white
    images; grey levels are refused because dithering would make the result ambiguous.
    """
    from PIL import Image  # only when decoding: a start served by the glyph cache needs none

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (SIZE, SIZE):
                width, height = image.size
                raise DataError(f"{name} is {width}x{height} pixels; Omniglot images are 105x105")
            if image.mode == "1":
                return ~np.asarray(image)
            grey = np.asarray(image.convert("L"))
    except (OSError, SyntaxError, ValueError) as err:  # what PIL raises for broken images
        raise DataError(f"{name} is not a readable PNG image ({err})") from err
    if not np.isin(grey, (0, 255)).all():
        raise DataError(
            f"{name} has grey levels (PIL mode {image.mode!r}); Omniglot images are black-and-white"
        )
    return grey == 0


@dataclass(frozen=True)
class CharacterFiles:
    """One character folder: its alphabet, its name and its 20 drawer files in drawer order."""

    alphabet: str
    character: str
    files: tuple[str, ...]


def is_ignored(relpath: str) -> bool:
    """Hidden files and macOS archive debris (``__MACOSX/``, ``._x.png``) are not Omniglot."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relpath.split("/"))


def plan_set(label: str, relpaths: Iterable[str]) -> list[CharacterFiles]:
    """Order a set's PNG files as the original does, checking every character has 20 drawers.

    ``relpaths`` are ``<Alphabet>/<characterNN>/<id>_<drawer>.png`` relative to the set folder;
    other files are ignored. Alphabets and characters come in sorted order, files in drawer order.
    """
    folders: dict[tuple[str, str], dict[int, str]] = {}
    for rel in relpaths:
        if not rel.lower().endswith(".png") or is_ignored(rel):
            continue
        parts = rel.split("/")
        if len(parts) != 3:
            raise DataError(f"{label}: {rel} is not at <Alphabet>/<character>/<file>.png")
        match = _DRAWER_FILE.match(parts[2])
        if match is None:
            raise DataError(f"{label}: {rel} is not named <id>_<drawer>.png")
        drawers = folders.setdefault((parts[0], parts[1]), {})
        drawer = int(match.group(1))
        if drawer in drawers:
            raise DataError(f"{label}: {rel} and {drawers[drawer]} are both drawer {drawer:02d}")
        drawers[drawer] = rel
    if not folders:
        raise DataError(f"{label} holds no <Alphabet>/<character>/<file>.png images")
    wanted = set(range(1, N_DRAWERS + 1))
    plan = []
    for (alphabet, character), drawers in sorted(folders.items()):
        missing, extra = wanted - set(drawers), set(drawers) - wanted
        if missing or extra:
            problems = [f"missing drawer(s) {_numbers(missing)}"] if missing else []
            problems += [f"unexpected drawer(s) {_numbers(extra)}"] if extra else []
            raise DataError(
                f"{label}: {alphabet}/{character} has {'; '.join(problems)} (expected 01-20)"
            )
        plan.append(CharacterFiles(alphabet, character, tuple(drawers[d] for d in sorted(drawers))))
    return plan


def _numbers(values: Iterable[int]) -> str:
    return ", ".join(f"{value:02d}" for value in sorted(values))


def check_layout(label: str, plan: Sequence[CharacterFiles], expected: Mapping[str, int]) -> None:
    """Raise a DataError naming every alphabet that is missing, unexpected or incomplete."""
    found = Counter(char.alphabet for char in plan)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    problems = [f"missing {len(missing)} alphabet(s): {', '.join(missing)}"] if missing else []
    problems += [f"unexpected alphabet(s): {', '.join(extra)}"] if extra else []
    problems += [
        f"{alphabet} has {found[alphabet]} characters, expected {count}"
        for alphabet, count in sorted(expected.items())
        if alphabet in found and found[alphabet] != count
    ]
    if problems:
        raise DataError(
            f"{label} is not the complete Omniglot set ({len(expected)} alphabets, "
            f"{sum(expected.values())} characters): {'; '.join(problems)}"
        )
