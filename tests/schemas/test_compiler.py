"""compile_schema with the real protoc from grpcio-tools: features, multi-file uploads, errors, descriptor sets."""

from __future__ import annotations

import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

from bqlite_app.errors import SchemaParseFailed, ValidationFailed
from bqlite_app.schemas._protoc import run_protoc
from bqlite_app.schemas.compiler import (
    CompiledSchema,
    MessageNotFound,
    ProtoFile,
    align_import_names,
    compile_schema,
    fingerprint,
    load_compiled,
)

PROTOS = Path(__file__).parent / "protos" / "compiler"
GOOGLE = Path(next(iter(importlib.util.find_spec("google.type").submodule_search_locations))).parent


def upload(rel: str, name: str | None = None) -> ProtoFile:
    return ProtoFile(name or rel, (PROTOS / rel).read_bytes())


def text(name: str, body: str) -> ProtoFile:
    return ProtoFile(name, body.encode())


def parse_error(main: ProtoFile, imports: tuple[ProtoFile, ...] = ()) -> str:
    with pytest.raises(SchemaParseFailed) as info:
        compile_schema(main, imports)
    assert info.value.status == 422 and info.value.error_code == "SCHEMA_PARSE_FAILED"
    return info.value.detail


# --- what compiles -------------------------------------------------------------------------------------------------


def test_proto3_with_nested_enum_map_oneof_optional_and_well_known_types() -> None:
    compiled = compile_schema(upload("trip.proto"))
    assert compiled.main_file == "trip.proto"
    assert compiled.message_names() == ["trip.v1.Trip", "trip.v1.Vendor"]
    assert "google/protobuf/timestamp.proto" in compiled.file_names()
    assert compiled.file_names()[-1] == "trip.proto"
    assert list(compiled.sources) == ["trip.proto"]  # library files are not uploads

    trip = compiled.descriptor("trip.v1.Trip")
    fields = trip.fields_by_name
    assert fields["payment"].enum_type.full_name == "trip.v1.Trip.Payment"
    assert fields["pickup"].message_type.full_name == "trip.v1.Trip.Location"
    assert fields["tags"].message_type.GetOptions().map_entry
    assert fields["coupon"].containing_oneof.name == "discount"
    assert fields["passengers"].has_presence and not fields["odometer"].has_presence
    assert fields["stops"].is_repeated
    assert fields["started_at"].message_type.full_name == "google.protobuf.Timestamp"
    assert fields["tip"].message_type.full_name == "google.protobuf.DoubleValue"
    assert fields["attributes"].message_type.full_name == "google.protobuf.Struct"
    assert fields["extra"].message_type.full_name == "google.protobuf.Any"


def test_message_class_builds_and_parses_messages() -> None:
    compiled = compile_schema(upload("trip.proto"))
    Trip = compiled.message_class("trip.v1.Trip")
    assert compiled.message_class("trip.v1.Trip") is Trip  # cached
    trip = Trip(id="t-1", payment=2, passengers=3, coupon="SPRING", odometer=2**64 - 1, raw=b"\x00\n\xff")
    trip.pickup.lat = 40.7
    trip.tags["zone"] = 7
    trip.stops.add(lat=1.0, lon=2.0)
    trip.started_at.seconds = 1_700_000_000
    trip.duration.seconds = 90
    trip.tip.value = 2.5
    trip.attributes.update({"k": "v"})
    parsed = Trip.FromString(trip.SerializeToString())
    assert parsed == trip
    assert parsed.odometer == 2**64 - 1 and parsed.raw == b"\x00\n\xff"
    assert parsed.WhichOneof("discount") == "coupon" and parsed.HasField("passengers")
    assert parsed.started_at.ToDatetime().year == 2023


def test_proto2_required_fields_and_defaults() -> None:
    compiled = compile_schema(upload("legacy.proto"))
    reading = compiled.descriptor("legacy.Reading")
    fields = reading.fields_by_name
    assert fields["sensor"].is_required
    assert fields["value"].has_default_value and fields["value"].default_value == 1.5
    assert fields["unit"].default_value == 1
    assert fields["note"].default_value == "none"
    Reading = compiled.message_class("legacy.Reading")
    empty = Reading()
    assert empty.value == 1.5 and empty.note == "none" and not empty.IsInitialized()


def test_editions_2023() -> None:
    compiled = compile_schema(upload("editions.proto"))
    event = compiled.descriptor("ed.v1.Event")
    assert event.fields_by_name["count"].has_presence  # editions default: explicit presence
    assert not event.fields_by_name["label"].has_presence  # features.field_presence = IMPLICIT
    assert event.enum_types_by_name["Kind"].is_closed
    Event = compiled.message_class("ed.v1.Event")
    assert Event.FromString(Event(count=0, values=[1, 2]).SerializeToString()).HasField("count")


def test_editions_2024() -> None:
    compiled = compile_schema(text("e.proto", 'edition = "2024";\npackage e;\nmessage M { int32 a = 1; }\n'))
    assert compiled.message_names() == ["e.M"]


def test_multi_file_upload_with_imports_in_subdirectories() -> None:
    compiled = compile_schema(
        upload("events/click.proto"),
        [upload("events/common.proto"), upload("events/money/money.proto")],
    )
    assert compiled.main_file == "events/click.proto"
    assert compiled.message_names() == ["events.Click"]
    assert set(compiled.sources) == {"events/click.proto", "events/common.proto", "events/money/money.proto"}
    header = compiled.descriptor("events.Click").fields_by_name["header"].message_type
    assert header.fields_by_name["cost"].message_type.full_name == "events.money.Money"
    # google/type/date.proto resolved from googleapis-common-protos without an upload
    assert compiled.descriptor("events.Click").fields_by_name["day"].message_type.full_name == "google.type.Date"
    assert compiled.file_names().index("events/money/money.proto") < compiled.file_names().index("events/common.proto")


def test_imports_uploaded_by_base_name_take_the_path_their_import_line_uses() -> None:
    # What a browser or `curl -F imports=@common.proto` sends: no folders.
    compiled = compile_schema(upload("events/click.proto"), [
        ProtoFile("common.proto", upload("events/common.proto").content),
        ProtoFile("money.proto", upload("events/money/money.proto").content)])
    assert set(compiled.sources) == {"events/click.proto", "events/common.proto", "events/money/money.proto"}
    main = ProtoFile("event.proto", b'import "e2e/common.proto";\nimport "a/x.proto";\nimport "b/x.proto";')
    aligned = align_import_names(main, [ProtoFile("common.proto", b""), ProtoFile("x.proto", b""),
                                        ProtoFile("other/y.proto", b"")])
    assert [f.name for f in aligned] == ["e2e/common.proto", "x.proto", "other/y.proto"]  # x.proto is ambiguous


def test_proto_sources_include_library_files() -> None:
    compiled = compile_schema(upload("events/click.proto"), [upload("events/common.proto"),
                                                              upload("events/money/money.proto")])
    sources = compiled.proto_sources()
    assert set(sources) == set(compiled.file_names())
    assert "message Date" in sources["google/type/date.proto"]


def test_unused_uploads_are_ignored() -> None:
    compiled = compile_schema(
        ProtoFile("main.proto", b'syntax = "proto3";\nimport "lib/a.proto";\nmessage M { a.A a = 1; }\n'),
        [text("lib/a.proto", 'syntax = "proto3";\npackage a;\nmessage A {}\n'), text("unused.proto", "garbage {")],
    )
    assert compiled.main_file == "main.proto"
    assert set(compiled.sources) == {"main.proto", "lib/a.proto"}


def test_nameless_upload_gets_a_default_name() -> None:
    compiled = compile_schema(ProtoFile("", b'syntax = "proto3";\nmessage M {}\n'))
    assert compiled.main_file == "schema.proto"


GOOGLEAPIS_FILES = sorted(
    [f"google/type/{p.name}" for p in (GOOGLE / "type").glob("*.proto")]
    + ["google/rpc/status.proto", "google/rpc/error_details.proto"]
)


@pytest.mark.parametrize("main_name", GOOGLEAPIS_FILES)
def test_real_googleapis_files_uploaded(main_name: str) -> None:
    uploads = {name: ProtoFile(name, (GOOGLE.parent / name).read_bytes()) for name in GOOGLEAPIS_FILES}
    imports = [f for name, f in uploads.items() if name != main_name]
    compiled = compile_schema(uploads[main_name], imports)
    assert compiled.main_file == main_name
    assert main_name in compiled.sources
    for name in compiled.message_names():
        cls = compiled.message_class(name)
        assert cls.FromString(cls().SerializeToString()) == cls()


def test_uploaded_file_shadows_the_library_copy() -> None:
    own_date = text("google/type/date.proto", 'syntax = "proto3"; package google.type; message Date { string i = 1; }')
    main = text("m.proto", 'syntax = "proto3"; import "google/type/date.proto"; message M { google.type.Date d = 1; }')
    compiled = compile_schema(main, [own_date])
    date = compiled.descriptor("google.type.Date")
    assert [f.name for f in date.fields] == ["i"]


def test_compiling_in_parallel_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: compile_schema(upload("trip.proto")), range(8)))
    assert len({r.descriptor_set for r in results}) == 1


# --- errors --------------------------------------------------------------------------------------------------------


def test_syntax_error_reports_file_line_and_column() -> None:
    body = 'syntax = "proto3";\n\nmessage Broken {\n  int32 a = 1\n  string b = 2;\n}\n'
    detail = parse_error(text("dir/broken.proto", body))
    assert re.search(r"^dir/broken\.proto:5:3: Expected \";\"\.", detail, re.M), detail
    assert "/tmp" not in detail and "bqlite-protoc" not in detail


def test_semantic_errors_in_an_import_name_the_import() -> None:
    main = text("main.proto", 'syntax = "proto3";\nimport "lib/bad.proto";\nmessage M {}\n')
    bad = text("lib/bad.proto", 'syntax = "proto3";\nmessage X {\n  Missing m = 1;\n}\n')
    detail = parse_error(main, (bad,))
    assert re.search(r'^lib/bad\.proto:3:3: "Missing" is not defined\.', detail, re.M), detail


def test_missing_import() -> None:
    detail = parse_error(text("main.proto", 'syntax = "proto3";\nimport "events/nope.proto";\nmessage M {}\n'))
    assert "events/nope.proto: File not found." in detail
    assert re.search(r'^main\.proto:2:1: Import "events/nope\.proto" was not found', detail, re.M), detail


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"])
def test_empty_file(content: bytes) -> None:
    assert parse_error(ProtoFile("empty.proto", content)) == "empty.proto is empty."


def test_binary_garbage() -> None:
    detail = parse_error(ProtoFile("junk.bin", bytes(range(128, 256)) * 4))
    assert detail == "junk.bin is neither UTF-8 .proto text nor a serialized FileDescriptorSet."


def test_garbage_that_starts_like_a_descriptor_set() -> None:
    detail = parse_error(ProtoFile("junk.bin", b"\n\xff\xff\xff\xff\xff"))
    assert "neither UTF-8" in detail


def test_non_utf8_import() -> None:
    main = text("main.proto", 'syntax = "proto3";\nimport "lib.proto";\nmessage M {}\n')
    assert parse_error(main, (ProtoFile("lib.proto", b"\xff\xfe"),)) == "lib.proto is not UTF-8 .proto text."


UNSAFE_NAMES = ["../escape.proto", "/etc/abs.proto", "a/../../b.proto", "win\\path.proto", "./main.proto",
                "a/./b.proto", "a//b.proto", "@opts", "@opts.proto", "-I.proto", "--plugin=x.proto", "a/-b.proto",
                "sp ace.proto", "semi;colon.proto", "nul\x00.proto", "new\nline.proto", "trip.proto.txt", "opts",
                "\u00e9t\u00e9.proto", "a/.proto/..", ""]


def validation_error(main: ProtoFile, imports: tuple[ProtoFile, ...] = ()) -> str:
    with pytest.raises(ValidationFailed) as info:
        compile_schema(main, imports)
    assert info.value.status == 422 and info.value.error_code == "VALIDATION_FAILED"
    return info.value.detail


@pytest.mark.parametrize("name", [n for n in UNSAFE_NAMES if n])
def test_unsafe_main_file_names_are_refused(name: str) -> None:
    assert "invalid file name" in validation_error(ProtoFile(name, b'syntax = "proto3";\nmessage M {}\n'))


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_import_names_are_refused(name: str) -> None:
    main = text("main.proto", 'syntax = "proto3";\nmessage M {}\n')
    detail = validation_error(main, (ProtoFile(name, b'syntax = "proto3";\nmessage I {}\n'),))
    assert detail.startswith("imports: ")


def test_an_import_name_taken_from_an_import_line_is_checked_too() -> None:
    """align_import_names renames an upload after the import line that wants it: that text comes from the client."""
    main = text("main.proto", 'syntax = "proto3";\nimport "../x/common.proto";\nmessage M {}\n')
    detail = validation_error(main, (text("common.proto", 'syntax = "proto3";\nmessage C {}\n'),))
    assert "'../x/common.proto'" in detail


@pytest.mark.parametrize("name", ["trip.proto", "events/v1/click.proto", "a-b_c.d.proto", "_x/9.proto"])
def test_plain_names_are_accepted(name: str) -> None:
    assert compile_schema(text(name, 'syntax = "proto3";\nmessage M {}\n')).main_file == name


def test_a_descriptor_set_may_have_any_plain_name_but_text_must_end_in_proto() -> None:
    compiled = compile_schema(text("m.proto", 'syntax = "proto3";\nmessage M {}\n'))
    assert compile_schema(ProtoFile("m.desc", compiled.descriptor_set)).main_file == "m.proto"
    assert "must end in .proto" in validation_error(text("m.txt", 'syntax = "proto3";\nmessage M {}\n'))
    assert "invalid file name" in validation_error(ProtoFile("@m.desc", compiled.descriptor_set))


def test_at_most_100_imports() -> None:
    main = text("main.proto", 'syntax = "proto3";\nmessage M {}\n')
    imports = tuple(text(f"i{n}.proto", f'syntax = "proto3";\nmessage I{n} {{}}\n') for n in range(101))
    assert "at most 100" in validation_error(main, imports)
    assert compile_schema(main, imports[:100]).main_file == "main.proto"


def test_protoc_never_reads_a_client_name_as_an_option_or_argument_file(tmp_path: Path) -> None:
    """Issue 9: protoc expands "@file" into more arguments; these would run /bin/sh as a plugin."""
    marker = tmp_path / "marker"
    options = f"--plugin=protoc-gen-x=/bin/sh\n--x_out=;touch {marker};#:{tmp_path}\na.proto\n".encode()
    files = {"@opts": b'syntax = "proto3";\nmessage A {}\n', "opts": options,
             "a.proto": b'syntax = "proto3";\nmessage A {}\n'}
    with pytest.raises(ValidationFailed):
        run_protoc("@opts", files)
    assert not marker.exists()


def test_duplicate_upload_names() -> None:
    same = text("a.proto", 'syntax = "proto3";\nmessage M {}\n')
    assert parse_error(same, (same,)) == "a.proto was uploaded twice."


def test_unknown_message_name() -> None:
    compiled = compile_schema(upload("trip.proto"))
    with pytest.raises(MessageNotFound) as info:
        compiled.descriptor("trip.v1.Nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, SchemaParseFailed)
    assert str(info.value) == 'Message "trip.v1.Nope" is not defined in trip.proto or its imports.'
    assert compiled.descriptor(".trip.v1.Trip").full_name == "trip.v1.Trip"


# --- descriptor sets -----------------------------------------------------------------------------------------------


def test_binary_descriptor_set_upload_round_trip() -> None:
    compiled = compile_schema(upload("trip.proto"))
    again = compile_schema(ProtoFile("trip.desc", compiled.descriptor_set))
    assert again.main_file == "trip.proto"
    assert again.sources == {}
    assert again.message_names() == compiled.message_names()
    assert again.descriptor_set == compiled.descriptor_set
    assert fingerprint(again, "trip.v1.Trip") == fingerprint(compiled, "trip.v1.Trip")
    Trip = again.message_class("trip.v1.Trip")
    assert Trip.FromString(Trip(id="x").SerializeToString()).id == "x"


def test_descriptor_set_that_is_valid_utf8_is_still_recognized() -> None:
    compiled = compile_schema(text("m.proto", 'syntax = "proto3";\nmessage M { int32 a = 1; }\n'))
    compiled.descriptor_set.decode("utf-8")  # small sets are plain ASCII
    again = compile_schema(ProtoFile("m.pb", compiled.descriptor_set))
    assert again.message_names() == ["M"]


def test_descriptor_set_with_source_info_and_without_imports() -> None:
    compiled = compile_schema(upload("trip.proto"))
    main = descriptor_pb2.FileDescriptorProto()
    main.CopyFrom(compiled.files[-1])
    main.source_code_info.location.add(path=[4, 0], span=[1, 2, 3], leading_comments=" hello")
    bare = descriptor_pb2.FileDescriptorSet(file=[main]).SerializeToString()
    # imports of google/protobuf/*.proto come from the installed modules
    again = compile_schema(ProtoFile("trip.desc", bare))
    assert again.main_file == "trip.proto"
    assert fingerprint(again, "trip.v1.Trip") == fingerprint(compiled, "trip.v1.Trip")
    assert not any(f.HasField("source_code_info") for f in again.files)


def test_descriptor_set_missing_a_user_import() -> None:
    compiled = compile_schema(upload("events/click.proto"), [upload("events/common.proto"),
                                                              upload("events/money/money.proto")])
    only_main = descriptor_pb2.FileDescriptorSet(file=[compiled.files[-1]]).SerializeToString()
    detail = parse_error(ProtoFile("click.desc", only_main))
    assert 'imports "events/common.proto"' in detail and "--include_imports" in detail


def test_main_file_of_a_descriptor_set_is_the_one_nobody_imports() -> None:
    compiled = compile_schema(upload("events/click.proto"), [upload("events/common.proto"),
                                                              upload("events/money/money.proto")])
    files = list(reversed(compiled.files))  # main first: order must not matter
    again = compile_schema(ProtoFile("x.desc", descriptor_pb2.FileDescriptorSet(file=files).SerializeToString()))
    assert again.main_file == "events/click.proto"
    assert again.file_names() == compiled.file_names()


def test_load_compiled_round_trip() -> None:
    compiled = compile_schema(upload("events/click.proto"), [upload("events/common.proto"),
                                                              upload("events/money/money.proto")])
    loaded = load_compiled(compiled.descriptor_set, compiled.main_file, compiled.sources)
    assert isinstance(loaded, CompiledSchema)
    assert loaded.descriptor_set == compiled.descriptor_set
    assert loaded.sources == compiled.sources
    assert loaded.message_names() == ["events.Click"]
    assert fingerprint(loaded, "events.Click") == fingerprint(compiled, "events.Click")


# --- fingerprints and pools ----------------------------------------------------------------------------------------

BASE = """syntax = "proto3";
package fp.v1;
message Event {
  string id = 1;
  int64 at = 2;
  Kind kind = 3;
  enum Kind { KIND_UNSPECIFIED = 0; CLICK = 1; }
}
"""


def fp(body: str, name: str = "fp.proto") -> str:
    return fingerprint(compile_schema(text(name, body)), "fp.v1.Event")


def test_fingerprint_is_stable_across_uploads_whitespace_comments_and_file_names() -> None:
    reformatted = (
        "// Events.\n" + BASE.replace("  string id = 1;", "  /* the id */ string   id=1 ;  // trailing\n")
        .replace("\n}", "\n\n}\n\n")
    )
    assert fp(BASE) == fp(BASE)
    assert fp(reformatted) == fp(BASE)
    assert fp(BASE, name="other/name.proto") == fp(BASE)
    # declarations the message does not use do not count
    assert fp(BASE + "message Unrelated { string x = 1; }\n") == fp(BASE)
    assert re.fullmatch(r"[0-9a-f]{64}", fp(BASE))


@pytest.mark.parametrize(
    "old,new",
    [
        ("int64 at = 2;", "double at = 2;"),  # type
        ("int64 at = 2;", "int64 when = 2;"),  # name
        ("int64 at = 2;", "int64 at = 4;"),  # number
        ("int64 at = 2;", 'int64 at = 2 [json_name = "time"];'),  # JSON name
        ("int64 at = 2;", "optional int64 at = 2;"),  # presence
        ("CLICK = 1;", "CLICK = 1; VIEW = 2;"),  # a used enum
        ("string id = 1;", "string id = 1; bool extra = 9;"),  # added field
    ],
)
def test_fingerprint_changes_with_meaning(old: str, new: str) -> None:
    assert old in BASE
    assert fp(BASE.replace(old, new)) != fp(BASE)


def test_fingerprint_follows_types_in_other_files() -> None:
    def click_fp(money_body: str) -> str:
        compiled = compile_schema(
            upload("events/click.proto"),
            [upload("events/common.proto"), ProtoFile("events/money/money.proto", money_body.encode())],
        )
        return fingerprint(compiled, "events.Click")

    money = (PROTOS / "events/money/money.proto").read_text()
    assert click_fp(money) == click_fp(money.replace("int64 units = 2;", "int64 units = 2; // whole units"))
    assert click_fp(money) != click_fp(money.replace("int64 units = 2;", "int32 units = 2;"))


def test_same_message_name_in_separate_pools_does_not_clash() -> None:
    first = compile_schema(text("a.proto", 'syntax = "proto3";\npackage same;\nmessage M { string name = 1; }\n'))
    second = compile_schema(text("a.proto", 'syntax = "proto3";\npackage same;\nmessage M { int64 count = 1; }\n'))
    A, B = first.message_class("same.M"), second.message_class("same.M")
    assert A is not B
    assert A.DESCRIPTOR.fields[0].name == "name" and B.DESCRIPTOR.fields[0].name == "count"
    assert A(name="x").name == "x" and B(count=5).count == 5
    assert B.DESCRIPTOR.fields_by_name["count"].type == FieldDescriptor.TYPE_INT64
    assert fingerprint(first, "same.M") != fingerprint(second, "same.M")


@pytest.mark.parametrize("prefix", [b"\n", b"\n\n", b"\n  // comment\n", b"\r\n"])
def test_text_starting_with_a_newline_is_not_mistaken_for_a_descriptor_set(prefix: bytes) -> None:
    content = prefix + (PROTOS / "trip.proto").read_bytes()
    compiled = compile_schema(ProtoFile("trip.proto", content))
    assert compiled.sources["trip.proto"].startswith(prefix.decode())
    assert compiled.message_names() == ["trip.v1.Trip", "trip.v1.Vendor"]


def test_uploads_over_the_total_size_cap_are_payload_too_large() -> None:
    from bqlite_app.errors import PayloadTooLarge
    from bqlite_app.schemas.uploads import MAX_TOTAL_BYTES

    filler = b"// " + b"x" * (10 * 1024**2 - 10) + b"\n"
    main = text("main.proto", 'syntax = "proto3";\nmessage M {}\n')
    imports = tuple(ProtoFile(f"f{n}.proto", filler) for n in range(MAX_TOTAL_BYTES // len(filler) + 1))
    with pytest.raises(PayloadTooLarge) as info:
        compile_schema(main, imports)
    assert info.value.status == 413 and "total" in info.value.detail


# --- how deeply message types may chain ----------------------------------------------------------------------------


def _chain(count: int, *, back: bool = False) -> str:
    """``count`` messages, each holding the next; with ``back`` the last one refers to the first (one big cycle)."""
    body = "".join(f"message M{i} {{ M{i + 1} next = 1; }}\n" for i in range(count - 1))
    last = f"message M{count - 1} {{ int32 x = 1;{' M0 first = 2;' if back else ''} }}\n"
    return f'syntax = "proto3";\npackage deep;\n{body}{last}'


@pytest.mark.parametrize("count", [101, 1500, 5000])
def test_message_types_chained_past_the_cap_are_a_parse_error(count: int) -> None:
    detail = parse_error(text("deep.proto", _chain(count)))
    assert detail.startswith("Message types nest too deeply: starting at deep.M0") and f"up to {count} " in detail


def test_a_large_cycle_of_message_types_counts_whole() -> None:
    assert "nest too deeply" in parse_error(text("deep.proto", _chain(150, back=True)))


def test_chains_up_to_the_cap_compile_fingerprint_and_compare() -> None:
    from bqlite_app.schemas.compat import compare

    old = compile_schema(text("deep.proto", _chain(100, back=True)))
    changed = _chain(100, back=True).replace("int32 x = 1;", "int32 x = 1; int32 y = 3;")
    new = compile_schema(text("deep.proto", changed))
    assert fingerprint(old, "deep.M0") != fingerprint(new, "deep.M0")
    assert compare(old.descriptor("deep.M0"), new.descriptor("deep.M0")).compatible


def test_a_descriptor_set_with_chained_types_is_checked_too() -> None:
    files = descriptor_pb2.FileDescriptorSet()
    proto = files.file.add(name="deep.proto", package="deep", syntax="proto3")
    for i in range(300):
        message = proto.message_type.add(name=f"M{i}")
        field = message.field.add(name="next" if i < 299 else "x", number=1,
                                  label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        if i < 299:
            field.type, field.type_name = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, f".deep.M{i + 1}"
        else:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
    assert "nest too deeply" in parse_error(ProtoFile("deep.desc", files.SerializeToString()))
