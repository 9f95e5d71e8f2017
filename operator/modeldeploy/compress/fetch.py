"""`modeldeploy fetch`: the serving pod's init container puts the model into a volume.

Like KServe's storage initializer. The model comes from a source URI (file, pvc, https, s3;
see `sources`) or from the artifact store by digest. Every file is written under a temporary
name in the destination folder, synced, verified and only then renamed, the model file
last, so the model's final name always means a complete, verified model. A failure is one
line on stderr and in the termination message file, which `kubectl describe pod` shows.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from modeldeploy.compress import s3, sources
from modeldeploy.compress.artifacts import DATA_FILE, MODEL_FILE
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.termination import HELP, termination_path, write_termination

SHA256 = re.compile(r"^(sha256:)?[0-9a-fA-F]{64}$")
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Fetched:
    files: list[Path]
    """Where the files went, the model last."""
    size: int
    sha256: str
    """Of the model file (`--uri`), or the artifact's digest (model and data, `--digest`)."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modeldeploy fetch",
        description="Copy a model from its URI or from the artifact store into a file, verified.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--uri", help="file://, pvc://claim/path, https:// or s3://bucket/key")
    source.add_argument(
        "--artifact-store", help="a directory, pvc://claim/prefix or s3://bucket/prefix"
    )
    parser.add_argument("--sha256", help="with --uri: the model file's sha256 (verified)")
    parser.add_argument("--digest", help="with --artifact-store: sha256:HEX of the artifact")
    parser.add_argument("--dest", required=True, type=Path, help="the model file to write")
    parser.add_argument("--termination-log", help=HELP)
    return parser


def _check(args: argparse.Namespace) -> None:
    if args.uri is not None and args.digest is not None:
        raise _UsageError("--digest goes with --artifact-store, not --uri")
    if args.artifact_store is not None and args.sha256 is not None:
        raise _UsageError("--sha256 goes with --uri; the artifact store takes --digest")
    if args.artifact_store is not None and args.digest is None:
        raise _UsageError("--artifact-store needs --digest sha256:HEX")
    for flag, value in (("--sha256", args.sha256), ("--digest", args.digest)):
        if value is not None and not SHA256.match(value):
            raise _UsageError(f"{flag} {value!r} is not a sha256 (64 hex digits)")
    if args.digest is not None:
        args.digest = "sha256:" + args.digest.lower().removeprefix("sha256:")


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        _check(args)
    except _UsageError as error:
        return _fail(termination_path(None), f"modeldeploy fetch: {error}", EXIT_USAGE)
    termination_log = termination_path(args.termination_log)
    what = args.uri or f"artifact {args.digest}"  # the digest as sha256:<lowercase hex>
    try:
        if args.uri is not None:
            fetched = fetch_uri(args.uri, args.sha256, args.dest, os.environ)
        else:
            fetched = fetch_artifact(args.artifact_store, args.digest, args.dest, os.environ)
    except CompressError as error:
        return _fail(termination_log, f"fetch failed: {error}", EXIT_FAILED)
    except Exception as error:  # still one line, never a traceback
        reason = f"fetch failed: {what}: {type(error).__name__}: {error}"
        return _fail(termination_log, reason, EXIT_FAILED)
    names = " + ".join(str(path) for path in reversed(fetched.files))
    print(f"fetched {what} -> {names} ({fetched.size} bytes, sha256 {fetched.sha256})")
    return 0


def _fail(termination_log: Path, message: str, code: int) -> int:
    line = sources.redact(" ".join(message.split()), os.environ)
    print(line, file=sys.stderr)
    write_termination(termination_log, line)
    return code


def fetch_uri(uri: str, sha256: str | None, dest: Path, environ: Mapping[str, str]) -> Fetched:
    """The model at `uri` into `dest`, with its external data file when a local one has it."""
    source = sources.local_path(uri, environ)
    data = None if source is None else source.with_name(f"{source.name}.data")
    with _staging(dest) as staging:
        staged = []
        if data is not None and data.is_file():
            staged.append(
                (_stage(str(data), staging, environ, "model data"), dest.with_name(data.name))
            )
        model = _stage(uri, staging, environ, "model")
        digest = sources.verify_sha256(model, sha256, f"model {uri}")
        return _publish([*staged, (model, dest)], digest)


def fetch_artifact(store: str, digest: str, dest: Path, environ: Mapping[str, str]) -> Fetched:
    """The artifact `<store>/<hex>/model.onnx` (+ `model.onnx.data`) into `dest`, verified."""
    wanted = digest.lower().removeprefix("sha256:")
    what = f"artifact sha256:{wanted}"  # as main names it
    folder = f"{store.rstrip('/')}/{wanted}"
    if sources.local_path(folder, environ) is None and not store.startswith("s3://"):
        raise CompressError(f"{what}: the artifact store {store} is not a directory, pvc or s3")
    with _staging(dest) as staging:
        model = _stage(f"{folder}/{MODEL_FILE}", staging, environ, what)
        staged = [(model, dest)]
        if _exists(f"{folder}/{DATA_FILE}", environ):
            data = _stage(f"{folder}/{DATA_FILE}", staging, environ, what)
            staged.insert(0, (data, dest.with_name(DATA_FILE)))
        actual = sources.files_sha256(source for source, _ in reversed(staged))
        if actual != wanted:
            raise CompressError(
                f"{what} in {store}: sha256 mismatch: expected {wanted}, got {actual}"
            )
        return _publish(staged, actual)


def _exists(uri: str, environ: Mapping[str, str]) -> bool:
    path = sources.local_path(uri, environ)
    if path is not None:
        return path.is_file()
    bucket, key = s3.split(uri)
    return s3.exists(s3.client(uri), bucket, key, uri)


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A temporary folder beside `dest` (same file system: renames are atomic), removed after."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as error:
        raise CompressError(f"cannot write into {dest.parent}: {error.strerror}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stage(uri: str, staging: Path, environ: Mapping[str, str], what: str) -> Path:
    """The content of `uri` as a synced file under `staging`."""
    found = sources.fetch(uri, staging, environ, what)
    try:
        if found.is_relative_to(staging):  # downloaded there
            staged = found
        else:
            staged = Path(tempfile.mkdtemp(dir=staging)) / found.name
            shutil.copyfile(found, staged)
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
    except OSError as error:
        reason = error.strerror or error
        raise CompressError(f"cannot copy {found} into {staging.parent}: {reason}") from None
    return staged


def _publish(staged: list[tuple[Path, Path]], sha256: str) -> Fetched:
    """Rename each staged file to its final name, in order (the model last)."""
    try:
        for source, target in staged:
            os.replace(source, target)
        folder = os.open(staged[-1][1].parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the renames survive a crash
        finally:
            os.close(folder)
    except OSError as error:
        raise CompressError(f"cannot write {staged[-1][1]}: {error.strerror}") from None
    targets = [target for _, target in staged]
    return Fetched(targets, sum(target.stat().st_size for target in targets), sha256)
