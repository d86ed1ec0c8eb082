"""Run ``protoc`` (from grpcio-tools) on uploaded files and return the FileDescriptorSet bytes.

protoc runs in a child process (``sys.executable -I -c ...``) rather than through ``grpc_tools.protoc.main`` in
process: in process it writes its errors straight to fd 2, and capturing that needs ``os.dup2`` on the whole process,
which races with every other thread (the scheduler, the web server). The child costs about 25 ms.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from bqlite_app.errors import SchemaParseFailed
from bqlite_app.schemas.uploads import check_file_name

PROTOC_TIMEOUT_S = 60.0

# The child imports only the compiled extension: grpc_tools.protoc would install import hooks we do not need.
_CHILD = (
    "import sys; from grpc_tools import _protoc_compiler; "
    "sys.exit(_protoc_compiler.run_main([a.encode() for a in sys.argv]))"
)

# protoc (through absl) logs warnings such as "No edition or syntax specified" in glog format; they are noise next
# to the real ``file:line:column: message`` errors.
_LOG_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} \d\d:\d\d:\d\d)")


@cache
def include_paths() -> tuple[str, ...]:
    """Library include paths, after the upload directory: well-known types, then googleapis-common-protos.

    googleapis is mapped as the virtual directory ``google`` (``google=<site-packages>/google``) so imports can reach
    ``google/type/date.proto`` and friends but nothing else that happens to live in site-packages.
    """
    paths: list[str] = []
    grpc_spec = importlib.util.find_spec("grpc_tools")
    if grpc_spec is not None and grpc_spec.submodule_search_locations:
        wkt = Path(next(iter(grpc_spec.submodule_search_locations))) / "_proto"
        if wkt.is_dir():
            paths.append(str(wkt))
    try:
        type_spec = importlib.util.find_spec("google.type")
    except ModuleNotFoundError:
        type_spec = None
    if type_spec is not None and type_spec.submodule_search_locations:
        google_dir = Path(next(iter(type_spec.submodule_search_locations))).parent
        paths.append(f"google={google_dir}")
    return tuple(paths)


def library_file(name: str) -> str | None:
    """The text of a library .proto that imports resolve without an upload (``google/protobuf/any.proto``), if any."""
    for entry in include_paths():
        virtual, _, disk = entry.rpartition("=")
        rel = name
        if virtual:
            prefix = virtual.rstrip("/") + "/"
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix) :]
        path = Path(disk) / rel
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def run_protoc(main_name: str, files: dict[str, bytes]) -> bytes:
    """Compile ``main_name`` (a key of ``files``) and return the serialized FileDescriptorSet, imports included.

    Raises ``SchemaParseFailed`` with protoc's ``file:line:column: message`` lines, file names as uploaded.
    The names must have passed ``uploads.check_file_name``: they become paths under a fresh temporary directory.
    """
    for name in files:  # the caller checked them; a name that is not a plain path must never reach disk or argv
        check_file_name(name)
    if main_name not in files:
        raise SchemaParseFailed(f"{main_name} is not among the uploaded files.")
    with tempfile.TemporaryDirectory(prefix="bqlite-protoc-") as tmp:
        src = Path(tmp) / "src"
        out = Path(tmp) / "descriptor_set.pb"
        for name, content in files.items():
            target = src / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        args = [
            sys.executable,
            "-I",  # isolated: no PYTHON* variables, no user site, no cwd on sys.path
            "-c",
            _CHILD,
            "-I.",  # uploads first, so they shadow library files of the same name
            *(f"-I{p}" for p in include_paths()),
            "--include_imports",
            f"--descriptor_set_out={out}",
            # protoc reads "@x" as a file of more arguments and "-x" as an option, and it has no "--" to end the
            # options ("Unknown flag: --"). A "./" prefix makes the argument a plain path whatever the name, and
            # protoc still records the file under its name relative to "-I." (checked with grpcio-tools' protoc).
            f"./{main_name}",
        ]
        try:
            proc = subprocess.run(args, cwd=src, capture_output=True, timeout=PROTOC_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as e:
            raise SchemaParseFailed(f"protoc did not finish within {PROTOC_TIMEOUT_S:.0f} s.") from e
        if proc.returncode != 0 or not out.is_file():
            raise SchemaParseFailed(_error_text(proc, [str(src) + "/", tmp + "/"]))
        return out.read_bytes()


def _error_text(proc: subprocess.CompletedProcess[bytes], temp_prefixes: Sequence[str]) -> str:
    text = (proc.stderr or b"").decode("utf-8", errors="replace") + (proc.stdout or b"").decode(
        "utf-8", errors="replace"
    )
    for prefix in temp_prefixes:  # protoc names files relative to -I., but be sure no temp path leaks
        text = text.replace(prefix, "")
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    # protoc repeats one error once per nesting level it unwinds; once is enough.
    meaningful = list(dict.fromkeys(ln for ln in lines if not _LOG_NOISE.match(ln)))
    if meaningful:
        return "\n".join(meaningful)
    if lines:
        return "\n".join(lines)
    return f"protoc failed with exit code {proc.returncode} and no message."
