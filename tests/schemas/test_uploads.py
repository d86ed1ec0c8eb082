"""Upload caps: one file is held to the setting ``BQLITE_MAX_PROTO_BYTES`` alone, all files together to 32 MiB."""

from __future__ import annotations

import pytest

from bqlite_app.errors import PayloadTooLarge
from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from bqlite_app.schemas.uploads import MAX_TOTAL_BYTES, check_upload_sizes

_MESSAGE = b'syntax = "proto3";\nmessage Big { int64 id = 1; }\n'


def test_a_file_over_the_old_fixed_cap_passes_when_the_setting_allows_it():
    # 12 MiB: over the 10 MiB default, which once also capped files in the core whatever the setting said.
    big = ProtoFile("big.proto", _MESSAGE + b"// " + b"x" * (12 * 1024**2) + b"\n")
    check_upload_sizes(big, [])
    assert compile_schema(big).message_names() == ["Big"]


def test_the_total_of_all_files_is_still_capped():
    part = ProtoFile("part.proto", b"// " + b"x" * (MAX_TOTAL_BYTES // 2) + b"\n")
    with pytest.raises(PayloadTooLarge) as info:
        check_upload_sizes(ProtoFile("main.proto", _MESSAGE), [part, part])
    assert info.value.status == 413 and "total" in info.value.detail
