"""INTERFACE STUB (helper A implements): compile .proto sources with grpc_tools.protoc."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message


@dataclass(frozen=True)
class ProtoFile:
    """An uploaded file: its name as imports refer to it (``events/common.proto``) and its bytes."""

    name: str
    content: bytes


class CompiledSchema:
    """A compiled set of files with a private DescriptorPool (one per schema version)."""

    descriptor_set: bytes      # serialized FileDescriptorSet, imports included, deterministic
    main_file: str             # the name of the main file inside the set
    sources: dict[str, str]    # .proto texts by file name (empty when a FileDescriptorSet was uploaded)
    pool: DescriptorPool

    def message_names(self) -> list[str]:
        """Fully qualified names of the main file's top-level messages."""
        raise NotImplementedError

    def descriptor(self, full_name: str) -> Descriptor:
        raise NotImplementedError

    def message_class(self, full_name: str) -> type[Message]:
        raise NotImplementedError


def compile_schema(main: ProtoFile, imports: Sequence[ProtoFile] = ()) -> CompiledSchema:
    """Compile ``.proto`` text (or accept a binary FileDescriptorSet) into a CompiledSchema.

    Raises ``SchemaParseFailed`` with protoc's ``file:line:column: message`` lines.
    """
    raise NotImplementedError


def load_compiled(descriptor_set: bytes, main_file: str, sources: dict[str, str] | None = None) -> CompiledSchema:
    """Rebuild a CompiledSchema from what the registry stored."""
    raise NotImplementedError
