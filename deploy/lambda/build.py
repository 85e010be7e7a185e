"""Build deploy/lambda's deployment.zip: the docquery wheel and its pinned dependencies, as
manylinux wheels for Lambda's Python 3.12 x86_64 runtime (Amazon Linux 2023, glibc 2.34:
the pinned Pillow and others ship manylinux_2_28 wheels only, which the 3.11 runtime's Amazon
Linux 2, glibc 2.26, cannot load).

    python deploy/lambda/build.py            # -> build/lambda/deployment.zip

It needs pip and the network (PyPI); it uses only the standard library otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "3.12"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# Lambda's unzipped limit for code and layers together.
UNZIPPED_LIMIT = 250 * 1024 * 1024


def pip_install_command(wheel: Path, target: Path) -> list[str]:
    """pip installing the wheel with the lambda extra for Lambda's platform, pinned."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        *(arg for tag in PLATFORMS for arg in ("--platform", tag)),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON,
        "--only-binary=:all:",
        "--target",
        str(target),
        "--constraint",
        str(ROOT / "constraints.txt"),
        f"{wheel}[lambda]",
    ]


def build(out: Path) -> Path:
    """Make out/deployment.zip; return its path."""
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    wheels, package = work / "wheels", work / "package"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(wheels.glob("docquery-*.whl"))
    subprocess.run(pip_install_command(wheel, package), check=True)  # noqa: S603
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    if size > UNZIPPED_LIMIT:
        raise SystemExit(f"{size / 2**20:.0f} MiB unzipped: over Lambda's 250 MiB; use an image")
    archive = out / "deployment.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(package).as_posix())
    print(f"{archive}: {archive.stat().st_size / 2**20:.1f} MiB, {size / 2**20:.1f} MiB unzipped")
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
