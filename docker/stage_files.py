"""Copy the files an installed distribution owns (its RECORD, plus their bytecode) under ROOT.

docker/Dockerfile installs candleflow into the venv of the dependency stage, then copies only
candleflow's own files into the image (``COPY --from=app /stage/ /``): the venv layer stays
the one of the dependency stage, shared by every image built from the same uv.lock, and an
edit of the code rebuilds a layer of a few hundred kilobytes instead of a copy of the whole
venv.

    python stage_files.py DISTRIBUTION ROOT
"""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import distribution
from pathlib import Path


def stage(name: str, root: Path) -> int:
    dist = distribution(name)
    copied = 0
    for entry in dist.files or []:
        source = Path(str(dist.locate_file(entry))).resolve()
        if not source.is_file():
            continue
        extras = []
        if source.suffix == ".py":
            extras = list((source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"))
        for path in (source, *extras):
            target = root / path.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: stage_files.py DISTRIBUTION ROOT")
    print(f"staged {stage(sys.argv[1], Path(sys.argv[2]))} files of {sys.argv[1]}")
