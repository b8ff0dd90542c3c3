"""The labelled face photos beside the checkout (`FACENITION_FACES_DIR`): what the tests, the
calibration commands and the benchmarks read. They are never copied into the repository.

`labels.csv` in that folder names each file's identity and how many faces it holds (`1`, `2`,
`many`, `partial`, `?`); files with the same identity show the same person.
"""

import base64
import csv
from dataclasses import dataclass
from pathlib import Path


class FaceSetMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class LabelledPhoto:
    folder: Path
    file: str
    identity: str
    faces: str

    @property
    def path(self) -> Path:
        return self.folder / self.file

    @property
    def shows_one_known_person(self) -> bool:
        return self.faces == "1" and bool(self.identity)

    def read(self) -> bytes:
        return self.path.read_bytes()

    def b64(self) -> str:
        return base64.b64encode(self.read()).decode()


def labelled_photos(folder):
    """Every photo `labels.csv` lists, in its order. Raises FaceSetMissing without it."""
    folder = Path(folder)
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise FaceSetMissing(f"no labelled face photos at {folder}; set FACENITION_FACES_DIR")
    with labels.open() as handle:
        return [LabelledPhoto(folder, row["file"], row["identity"], row["faces"]) for row in csv.DictReader(handle)]
