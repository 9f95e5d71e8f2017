"""`modeldeploy fetch`: every source kind, verification, atomic writes, one-line failures."""

from __future__ import annotations

import base64
import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import onnx
import pytest

from modeldeploy.compress import artifacts, s3, sources
from modeldeploy.compress.artifacts import ArtifactStore
from modeldeploy.compress.fetch import main
from modeldeploy.compress.s3store import S3ArtifactStore
from modeldeploy.compress.sources import (
    HTTPS_PASSWORD_ENV,
    HTTPS_TOKEN_ENV,
    HTTPS_USERNAME_ENV,
    PVC_ROOT_ENV,
)
from modeldeploy.compress.termination import TERMINATION_LOG_ENV
from tests.compress.conftest import AWS_SECRET
from tests.fixtures.models import REPO_ROOT, DigitsModel

CONTENT = b"not really onnx, but bytes to copy " * 100
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()
TOKEN = "s3cr3t-t0ken-never-shown"


@dataclass
class FetchRun:
    code: int
    out: str
    err: str
    termination: str


Fetch = Callable[..., FetchRun]


@pytest.fixture
def fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Fetch:
    """Run `modeldeploy fetch ARGS` in-process; its exit code, output and termination message."""
    termination = tmp_path / "termination-log"
    monkeypatch.setenv(TERMINATION_LOG_ENV, str(termination))

    def run(*args: str) -> FetchRun:
        termination.unlink(missing_ok=True)
        code = main(list(args))
        out, err = capsys.readouterr()
        return FetchRun(code, out, err, termination.read_text() if termination.exists() else "")

    return run


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """The model file in the pod's emptyDir (the folder exists, as a mounted volume does)."""
    (tmp_path / "models").mkdir()
    return tmp_path / "models" / "model.onnx"


def assert_failed(run: FetchRun, dest: Path, *parts: str) -> None:
    """Exit 1 and one line, on stderr and in the termination message, naming each part; no
    file in the destination folder (no model, no partial download)."""
    assert run.code == 1, run
    assert list(dest.parent.iterdir()) == []
    assert run.out == ""
    assert run.err.endswith("\n")
    assert run.err.count("\n") == 1
    assert run.termination == run.err.strip()
    for part in parts:
        assert part in run.termination


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


def test_file_uri_is_copied_and_verified(fetch: Fetch, source: Path, dest: Path) -> None:
    run = fetch("--uri", source.as_uri(), "--sha256", CONTENT_SHA256, "--dest", str(dest))

    assert run.code == 0, run.err
    assert dest.read_bytes() == CONTENT
    assert run.out == (
        f"fetched {source.as_uri()} -> {dest} ({len(CONTENT)} bytes, sha256 {CONTENT_SHA256})\n"
    )
    assert [path.name for path in dest.parent.iterdir()] == ["model.onnx"]  # no staging left


def test_pvc_uri_reads_under_the_mount_root(
    fetch: Fetch, tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = tmp_path / "pvc" / "models" / "digits" / "2"
    claim.mkdir(parents=True)
    (claim / "model.onnx").write_bytes(CONTENT)
    monkeypatch.setenv(PVC_ROOT_ENV, str(tmp_path / "pvc"))

    run = fetch("--uri", "pvc://models/digits/2/model.onnx", "--dest", str(dest))

    assert run.code == 0, run.err
    assert dest.read_bytes() == CONTENT


def test_external_data_beside_a_local_model_comes_along(
    fetch: Fetch, source: Path, dest: Path
) -> None:
    source.with_name("model.onnx.data").write_bytes(b"tensors")

    run = fetch("--uri", str(source), "--dest", str(dest))

    assert run.code == 0, run.err
    assert dest.with_name("model.onnx.data").read_bytes() == b"tensors"
    assert f"{dest} + {dest.with_name('model.onnx.data')}" in run.out


def test_sha256_mismatch_fails_and_leaves_no_file(fetch: Fetch, source: Path, dest: Path) -> None:
    wrong = "0" * 64

    run = fetch("--uri", source.as_uri(), "--sha256", f"sha256:{wrong}", "--dest", str(dest))

    assert_failed(
        run,
        dest,
        f"fetch failed: model {source.as_uri()} sha256 mismatch",
        f"expected {wrong}, got {CONTENT_SHA256}",
    )


def test_missing_source_is_named(fetch: Fetch, tmp_path: Path, dest: Path) -> None:
    uri = (tmp_path / "absent.onnx").as_uri()

    assert_failed(fetch("--uri", uri, "--dest", str(dest)), dest, f"model not found: {uri}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dest", "x"], "one of the arguments --uri --artifact-store is required"),
        (["--uri", "file:///m", "--artifact-store", "/s", "--dest", "x"], "not allowed with"),
        (["--uri", "file:///m", "--digest", f"sha256:{'a' * 64}", "--dest", "x"], "--digest"),
        (["--artifact-store", "/s", "--dest", "x"], "--artifact-store needs --digest"),
        (["--uri", "file:///m", "--sha256", "abc", "--dest", "x"], "'abc' is not a sha256"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(fetch: Fetch, args: list[str], message: str) -> None:
    run = fetch(*args)

    assert run.code == 2
    assert run.err.count("\n") == 1
    assert run.err.startswith("modeldeploy fetch: ")
    assert message in run.termination


# --- https ---------------------------------------------------------------------------------


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves its folder, only to requests with `authorization` when set; records headers."""

    authorization: str | None = None
    redirect_to: str | None = None
    seen: list[str | None]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        if self.authorization is not None and self.headers["Authorization"] != self.authorization:
            self.send_error(401, "Unauthorized")
        elif self.path == "/truncated.onnx":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
        elif self.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", self.redirect_to + self.path)
            self.end_headers()
        else:
            super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Served:
    url: str
    seen: list[str | None]
    """The Authorization header of each request (None when there was none)."""


Serve = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start HTTP servers on 127.0.0.1 serving a folder with `model.onnx`."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.onnx").write_bytes(CONTENT)
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def start(authorization: str | None = None, redirect_to: str | None = None) -> Served:
        seen: list[str | None] = []
        handler = type(
            "Handler",
            (_Files,),
            {"authorization": authorization, "redirect_to": redirect_to, "seen": seen},
        )
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(handler, directory=str(root))
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return Served(f"http://127.0.0.1:{server.server_address[1]}", seen)

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_download_without_credentials(fetch: Fetch, serve: Serve, dest: Path) -> None:
    served = serve()

    run = fetch(
        "--uri", f"{served.url}/model.onnx", "--sha256", CONTENT_SHA256, "--dest", str(dest)
    )

    assert run.code == 0, run.err
    assert dest.read_bytes() == CONTENT
    assert served.seen == [None]


def test_https_bearer_token_from_the_environment(
    fetch: Fetch, serve: Serve, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(authorization=f"Bearer {TOKEN}")
    monkeypatch.setenv(HTTPS_TOKEN_ENV, f"{TOKEN}\n")  # as `kubectl create secret --from-file`

    run = fetch("--uri", f"{served.url}/model.onnx", "--dest", str(dest))

    assert run.code == 0, run.err
    assert dest.read_bytes() == CONTENT


def test_https_basic_auth_from_the_environment(
    fetch: Fetch, serve: Serve, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(authorization="Basic " + base64.b64encode(b"alice:wonder").decode())
    monkeypatch.setenv(HTTPS_USERNAME_ENV, "alice")
    monkeypatch.setenv(HTTPS_PASSWORD_ENV, "wonder")

    run = fetch("--uri", f"{served.url}/model.onnx", "--dest", str(dest))

    assert run.code == 0, run.err


def test_refused_credentials_name_the_status_never_the_token(
    fetch: Fetch, serve: Serve, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = serve(authorization="Bearer the-right-one")
    monkeypatch.setenv(HTTPS_TOKEN_ENV, TOKEN)
    uri = f"{served.url}/model.onnx"

    run = fetch("--uri", uri, "--dest", str(dest))

    assert_failed(run, dest, f"cannot download model {uri}: HTTP 401")
    assert TOKEN not in run.err + run.out + run.termination
    assert served.seen == [f"Bearer {TOKEN}"]


def test_a_token_unfit_for_a_header_is_refused_without_echoing_it(
    fetch: Fetch, serve: Serve, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HTTPS_TOKEN_ENV, f"{TOKEN}\n{TOKEN}")

    run = fetch("--uri", f"{serve().url}/model.onnx", "--dest", str(dest))

    assert_failed(run, dest, f"${HTTPS_TOKEN_ENV} holds a character not allowed")
    assert TOKEN not in run.err + run.termination


def test_credentials_do_not_follow_a_redirect(
    fetch: Fetch, serve: Serve, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = serve()
    origin = serve(redirect_to=target.url)
    monkeypatch.setenv(HTTPS_TOKEN_ENV, TOKEN)

    run = fetch("--uri", f"{origin.url}/model.onnx", "--dest", str(dest))

    assert run.code == 0, run.err
    assert origin.seen == [f"Bearer {TOKEN}"]
    assert target.seen == [None]


def test_a_dropped_download_fails_and_leaves_no_file(
    fetch: Fetch, serve: Serve, dest: Path
) -> None:
    uri = f"{serve().url}/truncated.onnx"

    run = fetch("--uri", uri, "--dest", str(dest))

    assert_failed(run, dest, f"cannot download model {uri}: got 10 of 1000 bytes")


def test_missing_remote_file_names_the_http_status(fetch: Fetch, serve: Serve, dest: Path) -> None:
    uri = f"{serve().url}/absent.onnx"

    assert_failed(fetch("--uri", uri, "--dest", str(dest)), dest, f"{uri}: HTTP 404")


# --- s3 ------------------------------------------------------------------------------------


def test_s3_object_is_downloaded_and_verified(fetch: Fetch, s3_bucket: str, dest: Path) -> None:
    s3.client("s3://").put_object(Bucket=s3_bucket, Key="digits/model.onnx", Body=CONTENT)
    uri = f"s3://{s3_bucket}/digits/model.onnx"

    run = fetch("--uri", uri, "--sha256", CONTENT_SHA256, "--dest", str(dest))

    assert run.code == 0, run.err
    assert dest.read_bytes() == CONTENT


def test_missing_s3_object_names_the_error_never_the_secret(
    fetch: Fetch, s3_bucket: str, dest: Path
) -> None:
    uri = f"s3://{s3_bucket}/absent/model.onnx"

    run = fetch("--uri", uri, "--dest", str(dest))

    assert_failed(run, dest, f"cannot download model {uri}: 404 Not Found")
    assert AWS_SECRET not in run.err + run.termination


# --- the artifact store --------------------------------------------------------------------

StoreAt = Callable[[], tuple[str, artifacts.Store]]


@pytest.fixture(params=["directory", "pvc", "s3"])
def store_at(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> StoreAt:
    """A store as the job writes it, and its location as the operator passes it to fetch."""

    def make() -> tuple[str, artifacts.Store]:
        if request.param == "directory":
            return str(tmp_path / "store"), ArtifactStore(tmp_path / "store")
        if request.param == "pvc":
            monkeypatch.setenv(PVC_ROOT_ENV, str(tmp_path / "pvc"))
            root = tmp_path / "pvc" / "artifacts" / "store"
            return "pvc://artifacts/store/", ArtifactStore(root)
        bucket = request.getfixturevalue("s3_bucket")
        return f"s3://{bucket}/store", S3ArtifactStore(f"s3://{bucket}/store")

    return make


@pytest.mark.parametrize("external", [False, True], ids=["inline", "external-data"])
def test_artifact_is_fetched_by_digest(
    fetch: Fetch,
    store_at: StoreAt,
    digits: DigitsModel,
    dest: Path,
    external: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if external:
        monkeypatch.setattr(artifacts, "EXTERNAL_DATA_BYTES", 0)
    location, store = store_at()
    digest = store.put(onnx.load(str(digits.model)), {"passed": True}, fingerprint="inputs")

    run = fetch("--artifact-store", location, "--digest", f"sha256:{digest}", "--dest", str(dest))

    assert run.code == 0, run.err
    files = [dest, *([dest.with_name("model.onnx.data")] if external else [])]
    assert sorted(dest.parent.iterdir()) == files
    assert hashlib.sha256(b"".join(file.read_bytes() for file in files)).hexdigest() == digest
    assert run.out.endswith(f"sha256 {digest})\n")
    assert len(onnx.load(str(dest)).graph.initializer) > 0  # loads, data included


def test_a_tampered_artifact_fails_the_digest(
    fetch: Fetch, tmp_path: Path, digits: DigitsModel, dest: Path
) -> None:
    store = ArtifactStore(tmp_path / "store")
    digest = store.put(onnx.load(str(digits.model)), {"passed": True}, fingerprint="inputs")
    model = tmp_path / "store" / digest / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")

    run = fetch(
        "--artifact-store", str(tmp_path / "store"), "--digest", digest, "--dest", str(dest)
    )

    tampered = hashlib.sha256(model.read_bytes()).hexdigest()
    assert_failed(run, dest, f"artifact sha256:{digest}", f"expected {digest}, got {tampered}")


def test_a_missing_artifact_is_named(fetch: Fetch, store_at: StoreAt, dest: Path) -> None:
    location, _ = store_at()
    digest = "ab" * 32

    run = fetch("--artifact-store", location, "--digest", f"sha256:{digest}", "--dest", str(dest))

    assert_failed(run, dest, f"artifact sha256:{digest}")
    assert "not found" in run.termination.lower()


# --- the command as the init container runs it ----------------------------------------------


def test_the_command_fails_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    uri = (tmp_path / "absent.onnx").as_uri()

    done = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "fetch", "--uri", uri, "--dest", "/tmp/x.onnx"],
        env={TERMINATION_LOG_ENV: str(termination), "PYTHONPATH": str(REPO_ROOT / "operator")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"{termination.read_text()}\n"
    assert termination.read_text().startswith(f"fetch failed: model not found: {uri}")


def test_an_unexpected_error_is_one_line_with_credentials_masked(
    fetch: Fetch, source: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Path:
        raise RuntimeError(f"a library quoting its request\nAuthorization: Bearer {TOKEN}")

    monkeypatch.setattr(sources, "fetch", broken)
    monkeypatch.setenv(HTTPS_TOKEN_ENV, TOKEN)

    run = fetch("--uri", source.as_uri(), "--dest", str(dest))

    assert_failed(
        run, dest, f"fetch failed: {source.as_uri()}: RuntimeError: a library", "Bearer ***"
    )
    assert TOKEN not in run.err
