"""Compile uploaded ``.proto`` files (or accept a binary FileDescriptorSet) into a private DescriptorPool.

Every schema version gets its own ``DescriptorPool``, so two uploads that both define ``trip.v1.Trip`` never clash,
and message classes are built at run time with ``message_factory``; nothing is generated into the source tree.

protoc comes from grpcio-tools (see ``_protoc.py``). Imports resolve against, in order: the uploaded files, the
well-known types bundled with grpcio-tools (``google/protobuf/*.proto``) and googleapis-common-protos
(``google/type/*.proto``, ``google/rpc/*.proto``, ...). proto2, proto3 (with ``optional``) and editions 2023/2024
(protoc 35) are supported.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from bqlite_app.errors import SchemaParseFailed, ValidationFailed
from bqlite_app.schemas._protoc import library_file, run_protoc
from bqlite_app.schemas._type_depth import check_type_depth
from bqlite_app.schemas.uploads import check_file_name, check_upload_sizes

DEFAULT_MAIN_NAME = "schema.proto"
_BOM = b"\xef\xbb\xbf"
_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)


@dataclass(frozen=True)
class ProtoFile:
    """An uploaded file: its name as imports refer to it (``events/common.proto``) and its bytes."""

    name: str
    content: bytes


class MessageNotFound(SchemaParseFailed, KeyError):
    """A message name that the compiled files do not define (a ``KeyError`` too, for dict-like callers)."""

    def __str__(self) -> str:  # KeyError would repr() the detail
        return self.detail


class CompiledSchema:
    """A compiled set of files with a private DescriptorPool (one per schema version)."""

    descriptor_set: bytes      # serialized FileDescriptorSet, imports included, deterministic
    main_file: str             # the name of the main file inside the set
    sources: dict[str, str]    # .proto texts by file name (empty when a FileDescriptorSet was uploaded)
    pool: DescriptorPool

    def __init__(self, files: Sequence[descriptor_pb2.FileDescriptorProto], main_file: str, sources: dict[str, str]):
        """Build from FileDescriptorProtos in dependency order (use ``compile_schema`` or ``load_compiled``)."""
        self.files = list(files)
        self.main_file = main_file
        self.sources = dict(sources)
        fds = descriptor_pb2.FileDescriptorSet(file=self.files)
        self.descriptor_set = fds.SerializeToString(deterministic=True)
        self.pool = DescriptorPool()
        for file in self.files:
            try:
                self.pool.Add(file)
            except (TypeError, ValueError, KeyError) as e:
                raise SchemaParseFailed(f"{file.name}: the descriptor is not valid: {e}") from e
        self._classes: dict[str, type[Message]] = {}
        self._lock = threading.Lock()

    def message_names(self) -> list[str]:
        """Fully qualified names of the main file's top-level messages, in declaration order."""
        main = self.pool.FindFileByName(self.main_file)
        return [m.full_name for m in main.message_types_by_name.values()]

    def descriptor(self, full_name: str) -> Descriptor:
        name = full_name.strip().lstrip(".")
        try:
            return self.pool.FindMessageTypeByName(name)
        except KeyError:
            raise MessageNotFound(f'Message "{name}" is not defined in {self.main_file} or its imports.') from None

    def message_class(self, full_name: str) -> type[Message]:
        """The message class for ``full_name``, built once per schema (classes are costly and stateless)."""
        descriptor = self.descriptor(full_name)
        with self._lock:
            cls = self._classes.get(descriptor.full_name)
            if cls is None:
                cls = GetMessageClass(descriptor)
                self._classes[descriptor.full_name] = cls
            return cls

    def file_names(self) -> list[str]:
        """Every file in the set, dependencies first."""
        return [f.name for f in self.files]

    def proto_sources(self) -> dict[str, str]:
        """.proto texts for every file in the set that has one: uploads, plus library files resolved from the
        bundled include paths (well-known types, googleapis). A native decoder that reads .proto files needs these.
        """
        out: dict[str, str] = {}
        for name in self.file_names():
            text = self.sources.get(name)
            if text is None:
                text = library_file(name)
            if text is not None:
                out[name] = text
        return out


def align_import_names(main: ProtoFile, imports: Sequence[ProtoFile]) -> list[ProtoFile]:
    """Give each uploaded import the path an ``import "..."`` line uses for it, matched by file name.

    A browser (or ``curl -F imports=@common.proto``) hands over ``common.proto`` while the main file says
    ``import "events/common.proto";``. A name that some import line uses as is, or a base name that matches no
    import line or several, is kept.
    """
    wanted: set[str] = set()
    for file in (main, *imports):
        wanted.update(_IMPORT.findall(file.content.decode("utf-8", errors="replace")))
    by_base: dict[str, list[str]] = {}
    for path in wanted:
        by_base.setdefault(PurePosixPath(path).name, []).append(path)
    aligned = []
    for file in imports:
        candidates = by_base.get(PurePosixPath(file.name).name, [])
        if file.name not in wanted and len(candidates) == 1:
            file = ProtoFile(candidates[0], file.content)
        aligned.append(file)
    return aligned


def compile_schema(main: ProtoFile, imports: Sequence[ProtoFile] = ()) -> CompiledSchema:
    """Compile ``.proto`` text (or accept a binary FileDescriptorSet) into a CompiledSchema.

    Every name is checked (``uploads.check_file_name``) before anything is parsed, written or compiled: a bad one
    raises ``ValidationFailed``. Raises ``SchemaParseFailed`` with protoc's ``file:line:column: message`` lines.
    """
    check_upload_sizes(main, imports)
    main_name = check_file_name(main.name, proto_suffix=False) if main.name.strip() else DEFAULT_MAIN_NAME
    for file in imports:
        check_file_name(file.name, what="imports")
    uploaded = _parse_descriptor_set(main.content)
    if uploaded is not None:  # the set itself, so its name need not end in .proto
        return _checked(_from_descriptor_set(uploaded, main_name))

    files: dict[str, bytes] = {}
    sources: dict[str, str] = {}
    imports = align_import_names(main, imports)
    for file, name in [(main, main_name), *((f, f.name) for f in imports)]:
        if name in files:
            raise SchemaParseFailed(f"{name} was uploaded twice.")
        content = file.content.removeprefix(_BOM)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            if file is main:
                raise SchemaParseFailed(
                    f"{name} is neither UTF-8 .proto text nor a serialized FileDescriptorSet."
                ) from None
            raise SchemaParseFailed(f"{name} is not UTF-8 .proto text.") from None
        # An import's name may have come from an import line of the uploaded text (``align_import_names``).
        check_file_name(name, what="file" if file is main else "imports")
        if not text.strip():
            raise SchemaParseFailed(f"{name} is empty.")
        files[name] = content
        sources[name] = text

    fds = descriptor_pb2.FileDescriptorSet.FromString(run_protoc(main_name, files))
    in_set = {f.name for f in fds.file}
    return _checked(_build(fds.file, main_name, {k: v for k, v in sources.items() if k in in_set}))


def load_compiled(descriptor_set: bytes, main_file: str, sources: dict[str, str] | None = None) -> CompiledSchema:
    """Rebuild a CompiledSchema from what the registry stored."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    return _build(fds.file, main_file, sources or {})


def _checked(compiled: CompiledSchema) -> CompiledSchema:
    """Refuse type graphs the recursive walkers (fingerprint, compatibility) cannot finish (``_type_depth``)."""
    main = compiled.pool.FindFileByName(compiled.main_file)
    check_type_depth(main.message_types_by_name.values())
    return compiled


# --- descriptor sets -------------------------------------------------------------------------------------------------


def _parse_descriptor_set(content: bytes) -> descriptor_pb2.FileDescriptorSet | None:
    """``content`` as a FileDescriptorSet if it plausibly is one, else None (then it is .proto text).

    A serialized set starts with field 1 (``file``, length-delimited), the byte 0x0A. Text rarely starts with a
    newline *and* parses into files that all have valid names, so that is the test for content that is also UTF-8.
    """
    if not content.startswith(b"\n"):
        return None
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(content)
    except DecodeError:
        return None
    if not fds.file:
        return None
    for file in fds.file:
        if not file.name or any(ch.isspace() for ch in file.name):
            return None
        try:
            check_file_name(file.name, proto_suffix=False)
        except ValidationFailed:
            return None
    return fds


def _from_descriptor_set(fds: descriptor_pb2.FileDescriptorSet, upload_name: str) -> CompiledSchema:
    names = [f.name for f in fds.file]
    if upload_name in names:
        main = upload_name
    else:
        # protoc --include_imports writes dependencies first, so the main file is the last one nobody imports.
        imported = {dep for f in fds.file for dep in f.dependency}
        roots = [n for n in names if n not in imported] or names
        main = roots[-1]
    return _build(fds.file, main, {})


def _build(
    files: Iterable[descriptor_pb2.FileDescriptorProto], main_file: str, sources: dict[str, str]
) -> CompiledSchema:
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for file in files:
        copy = descriptor_pb2.FileDescriptorProto()
        copy.CopyFrom(file)
        # Comments and positions are not part of a schema's meaning; dropping them keeps descriptor_set identical
        # for the same content however it was formatted.
        copy.ClearField("source_code_info")
        by_name.setdefault(copy.name, copy)
    if main_file not in by_name:
        raise SchemaParseFailed(f"{main_file} is not in the descriptor set.")
    return CompiledSchema(_dependency_order(by_name), main_file, sources)


def _dependency_order(
    by_name: dict[str, descriptor_pb2.FileDescriptorProto],
) -> list[descriptor_pb2.FileDescriptorProto]:
    """Files with each one after its imports; missing ``google/...`` imports are taken from installed modules."""
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    state: dict[str, str] = {}

    def visit(name: str, importer: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            raise SchemaParseFailed(f"{name} imports itself through {importer}.")
        file = by_name.get(name) or _installed_file(name)
        if file is None:
            raise SchemaParseFailed(
                f'{importer} imports "{name}", which is not in the uploaded descriptor set '
                "(build it with protoc --include_imports)."
            )
        by_name[name] = file
        state[name] = "active"
        for dep in file.dependency:
            visit(dep, name)
        state[name] = "done"
        ordered.append(file)

    for name in list(by_name):
        visit(name, name)
    return ordered


def _installed_file(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A ``google/...`` file from its installed ``_pb2`` module, for descriptor sets built without imports."""
    if not name.startswith("google/") or not name.endswith(".proto"):
        return None
    module_name = name.removesuffix(".proto").replace("/", ".") + "_pb2"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)


# --- fingerprint -----------------------------------------------------------------------------------------------------


def fingerprint(compiled: CompiledSchema, message_name: str) -> str:
    """A sha256 hex digest of what ``message_name`` means: the message, its nested types and every type reachable
    through its fields, with the syntax/edition of the files declaring them.

    File names, comments, formatting, declarations the message does not use and a ``json_name`` equal to the default
    do not count, so the same content uploaded twice (as text or as a descriptor set) gives the same fingerprint.
    """
    return descriptor_fingerprint(compiled.descriptor(message_name))


def descriptor_fingerprint(root: Descriptor) -> str:
    entries: dict[str, bytes] = {}
    file_headers: dict[str, bytes] = {}

    def header(file_name: str, serialized: bytes) -> bytes:
        if file_name not in file_headers:
            full = descriptor_pb2.FileDescriptorProto.FromString(serialized)
            # syntax/edition and file-level features decide presence, packing and enum openness.
            head = descriptor_pb2.FileDescriptorProto(syntax=full.syntax, package=full.package)
            if full.HasField("edition"):
                head.edition = full.edition
            if full.options.HasField("features"):
                head.options.features.CopyFrom(full.options.features)
            file_headers[file_name] = head.SerializeToString(deterministic=True)
        return file_headers[file_name]

    def visit_enum(enum: EnumDescriptor) -> None:
        key = "enum " + enum.full_name
        if key in entries:
            return
        proto = descriptor_pb2.EnumDescriptorProto()
        enum.CopyToProto(proto)
        head = header(enum.file.name, enum.file.serialized_pb)
        entries[key] = head + b"\0" + proto.SerializeToString(deterministic=True)

    def visit_message(message: Descriptor) -> None:
        key = "message " + message.full_name
        if key in entries:
            return
        proto = descriptor_pb2.DescriptorProto()
        message.CopyToProto(proto)
        proto.ClearField("nested_type")  # nested types get their own entries below
        proto.ClearField("enum_type")
        for field in proto.field:
            if field.json_name == _default_json_name(field.name):
                field.ClearField("json_name")
        head = header(message.file.name, message.file.serialized_pb)
        entries[key] = head + b"\0" + proto.SerializeToString(deterministic=True)
        for nested in message.nested_types:
            visit_message(nested)
        for nested_enum in message.enum_types:
            visit_enum(nested_enum)
        for field in message.fields:
            if field.message_type is not None:
                visit_message(field.message_type)
            elif field.enum_type is not None:
                visit_enum(field.enum_type)

    visit_message(root)
    digest = hashlib.sha256(b"bqlite-fingerprint-v1\0" + root.full_name.encode() + b"\0")
    for key in sorted(entries):
        for part in (key.encode(), entries[key]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def _default_json_name(name: str) -> str:
    """protoc's default ``json_name``: drop underscores and capitalize the letter after each one."""
    out: list[str] = []
    upper_next = False
    for ch in name:
        if ch == "_":
            upper_next = True
            continue
        out.append(ch.upper() if upper_next else ch)
        upper_next = False
    return "".join(out)
