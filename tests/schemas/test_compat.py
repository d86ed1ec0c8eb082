"""compare(): Buf's WIRE_JSON breaking-change rules, one test per rule, on schemas compiled by the real protoc."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor

from bqlite_app.schemas.compat import Comparison, compare
from bqlite_app.schemas.compiler import ProtoFile, compile_schema

BASE = """syntax = "proto3";

package trip.v1;

import "google/protobuf/timestamp.proto";

message Trip {
  enum Payment {
    PAYMENT_UNSPECIFIED = 0;
    CARD = 1;
    CASH = 2;
  }

  message Location {
    double lat = 1;
    double lon = 2;
  }

  message Unused {
    string note = 1;
  }

  string id = 1;
  string vendor = 2;
  double fare = 3;
  Payment payment = 4;
  Location pickup = 5;
  map<string, string> tags = 6;
  repeated int32 stops = 7;
  optional int32 passengers = 8;
  oneof discount {
    string coupon = 10;
    double percent = 11;
  }
  google.protobuf.Timestamp started_at = 12;
  int32 zone = 13;
  fixed32 checksum = 14;
  sint32 delta = 15;
  bytes raw = 16;

  reserved 20 to 22;
  reserved "legacy";
}
"""


def message(body: str, name: str = "trip.v1.Trip", imports: tuple[ProtoFile, ...] = ()) -> Descriptor:
    return compile_schema(ProtoFile("trip.proto", body.encode()), imports).descriptor(name)


def edit(*replacements: tuple[str, str], base: str = BASE) -> str:
    body = base
    for old, new in replacements:
        assert old in body, old
        body = body.replace(old, new, 1)
    return body


def diff(*replacements: tuple[str, str], base: str = BASE, name: str = "trip.v1.Trip") -> Comparison:
    return compare(message(base, name), message(edit(*replacements, base=base), name))


def assert_only_breaking(result: Comparison, sentence: str) -> None:
    assert result.breaking == [sentence], result.breaking
    assert sentence in result.changes


# --- nothing or only compatible changes ----------------------------------------------------------------------------


def test_identical_and_reformatted_schemas_have_no_changes() -> None:
    assert compare(message(BASE), message(BASE)) == Comparison([], [])
    reformatted = "// Trips.\n" + BASE.replace("  double fare = 3;", "  // The fare.\n  double   fare=3 ;")
    assert compare(message(BASE), message(reformatted)) == Comparison([], [])


def test_added_field_is_compatible() -> None:
    result = diff(("  int32 zone = 13;", "  int32 zone = 13;\n  double tip = 9;"))
    assert result.breaking == []
    assert result.changes == ['Added field "trip.v1.Trip.tip" (number 9, double).']


def test_added_enum_value_is_compatible() -> None:
    result = diff(("    CASH = 2;", "    CASH = 2;\n    CRYPTO = 3;"))
    assert result.compatible
    assert result.changes == ['Added enum value "trip.v1.Trip.Payment.CRYPTO" (3).']


def test_added_nested_message_and_reserved_numbers_are_compatible() -> None:
    result = diff(("  message Unused {", "  message Extra {}\n  message Unused {"),
                  ('  reserved "legacy";', '  reserved "legacy", "older";\n  reserved 30;'))
    assert result.compatible
    assert 'Added message "trip.v1.Trip.Extra".' in result.changes
    assert 'Reserved name "older" in "trip.v1.Trip".' in result.changes
    assert 'Reserved 30 in "trip.v1.Trip".' in result.changes


# --- FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED / _NAME_RESERVED -------------------------------------------------------


def test_deleted_field_without_reservation_is_breaking() -> None:
    result = diff(("  string vendor = 2;\n", ""))
    assert_only_breaking(
        result, 'Field "trip.v1.Trip.vendor" (number 2) was deleted without reserving its number and name.'
    )


def test_deleted_field_with_only_the_number_reserved_is_breaking() -> None:
    result = diff(("  string vendor = 2;\n", ""), ("  reserved 20 to 22;", "  reserved 2, 20 to 22;"))
    assert_only_breaking(
        result, 'Field "trip.v1.Trip.vendor" (number 2) was deleted without reserving its name "vendor".'
    )


def test_deleted_field_with_only_the_name_reserved_is_breaking() -> None:
    result = diff(("  string vendor = 2;\n", ""), ('  reserved "legacy";', '  reserved "legacy", "vendor";'))
    assert_only_breaking(result, 'Field "trip.v1.Trip.vendor" (number 2) was deleted without reserving its number.')


def test_deleted_field_with_number_and_name_reserved_is_compatible() -> None:
    result = diff(
        ("  string vendor = 2;\n", ""),
        ("  reserved 20 to 22;", "  reserved 2, 20 to 22;"),
        ('  reserved "legacy";', '  reserved "legacy", "vendor";'),
    )
    assert result.breaking == []
    assert 'Field "trip.v1.Trip.vendor" (number 2) was deleted; its number and name are reserved.' in result.changes


# --- FIELD_SAME_NAME, number reuse, FIELD_SAME_JSON_NAME -----------------------------------------------------------


def test_renamed_field_is_breaking_for_json() -> None:
    result = diff(("string vendor = 2;", "string vendor_id = 2;"))
    assert_only_breaking(
        result, 'Field "trip.v1.Trip.vendor" (number 2) was renamed to "vendor_id"; JSON uses field names.'
    )


def test_field_number_reused_by_a_different_field() -> None:
    result = diff(("string vendor = 2;", "int64 driver = 2;"))
    assert_only_breaking(
        result, 'Field number 2 of "trip.v1.Trip" was reused: it was "vendor" (string) and is now "driver" (int64).'
    )


def test_field_number_reused_while_the_old_field_moved() -> None:
    result = diff(("  string vendor = 2;", "  string vendor = 17;\n  string company = 2;"))
    assert result.breaking == [
        'Field "trip.v1.Trip.vendor" moved from number 2 to number 17.',
        'Field number 2 of "trip.v1.Trip" was reused: it was "vendor" (string) and is now "company" (string).',
    ]


def test_field_moved_to_another_number() -> None:
    result = diff(("double fare = 3;", "double fare = 30;"))
    assert_only_breaking(result, 'Field "trip.v1.Trip.fare" moved from number 3 to number 30.')


def test_json_name_change_is_breaking() -> None:
    result = diff(("double fare = 3;", 'double fare = 3 [json_name = "price"];'))
    assert_only_breaking(result, 'Field "trip.v1.Trip.fare" (number 3) changed its JSON name from "fare" to "price".')


# --- FIELD_WIRE_JSON_COMPATIBLE_TYPE -------------------------------------------------------------------------------


def test_type_change_is_breaking() -> None:
    result = diff(("double fare = 3;", "string fare = 3;"))
    assert_only_breaking(result, 'Field "trip.v1.Trip.fare" (number 3) changed type from double to string.')


@pytest.mark.parametrize(
    "old,new",
    [
        ("int32 zone = 13;", "uint32 zone = 13;"),
        ("fixed32 checksum = 14;", "sfixed32 checksum = 14;"),
    ],
)
def test_wire_and_json_compatible_type_changes(old: str, new: str) -> None:
    result = diff((old, new))
    assert result.breaking == []
    field = new.split()[1]
    assert result.changes == [
        f'Field "trip.v1.Trip.{field}" (number {new.split()[-1].rstrip(";")}) changed type from '
        f"{old.split()[0]} to {new.split()[0]} (wire- and JSON-compatible)."
    ]


@pytest.mark.parametrize(
    "old,new,why",
    [
        ("int32 zone = 13;", "int64 zone = 13;", "64-bit integers are JSON strings"),
        ("int32 zone = 13;", "bool zone = 13;", "JSON true/false"),
        ("sint32 delta = 15;", "sint64 delta = 15;", "wire-compatible, not JSON"),
        ("bytes raw = 16;", "string raw = 16;", "base64 vs text"),
        ("Payment payment = 4;", "int32 payment = 4;", "JSON writes enum names"),
        ("fixed32 checksum = 14;", "uint32 checksum = 14;", "not wire-compatible"),
        ("double fare = 3;", "float fare = 3;", "not wire-compatible"),
    ],
)
def test_wire_only_compatible_type_changes_are_breaking(old: str, new: str, why: str) -> None:
    result = diff((old, new))
    assert len(result.breaking) == 1, (why, result.breaking)
    before = old.split()[0].replace("Payment", "trip.v1.Trip.Payment")
    assert f"changed type from {before} to {new.split()[0]}." in result.breaking[0]


def test_message_field_changed_to_another_message_type() -> None:
    result = diff(("Location pickup = 5;", "Unused pickup = 5;"))
    assert_only_breaking(
        result, 'Field "trip.v1.Trip.pickup" (number 5) changed type from trip.v1.Trip.Location to trip.v1.Trip.Unused.'
    )


def test_changes_inside_nested_messages_name_the_nested_field() -> None:
    result = diff(("    double lat = 1;", "    float lat = 1;"))
    assert_only_breaking(result, 'Field "trip.v1.Trip.Location.lat" (number 1) changed type from double to float.')


def test_map_value_type_change_is_breaking() -> None:
    result = diff(("map<string, string> tags = 6;", "map<string, bytes> tags = 6;"))
    assert_only_breaking(
        result, 'The values of map field "trip.v1.Trip.tags" (number 6) changed type from string to bytes.'
    )


# --- FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY (label) ----------------------------------------------------------------


def test_optional_to_repeated_is_breaking() -> None:
    result = diff(("double fare = 3;", "repeated double fare = 3;"))
    assert_only_breaking(
        result,
        'Field "trip.v1.Trip.fare" (number 3) changed cardinality from optional (implicit presence) to repeated.',
    )


def test_repeated_to_map_is_breaking() -> None:
    result = diff(("repeated int32 stops = 7;", "map<int32, int32> stops = 7;"))
    assert result.breaking == ['Field "trip.v1.Trip.stops" (number 7) changed cardinality from repeated to map.']


def test_proto3_optional_to_implicit_presence_is_only_noted() -> None:
    result = diff(("optional int32 passengers = 8;", "int32 passengers = 8;"))
    assert result.breaking == []
    assert result.changes == [
        'Field "trip.v1.Trip.passengers" (number 8) changed from optional (explicit presence) '
        "to optional (implicit presence)."
    ]


# --- FIELD_SAME_ONEOF ----------------------------------------------------------------------------------------------


def test_field_moved_into_a_oneof_is_breaking() -> None:
    result = diff(
        ("  double fare = 3;\n", ""), ("    double percent = 11;", "    double percent = 11;\n    double fare = 3;")
    )
    assert_only_breaking(result, 'Field "trip.v1.Trip.fare" (number 3) moved into oneof "discount".')


def test_field_moved_out_of_a_oneof_is_breaking() -> None:
    result = diff(("    string coupon = 10;\n", ""), ("  string id = 1;", "  string id = 1;\n  string coupon = 10;"))
    assert_only_breaking(result, 'Field "trip.v1.Trip.coupon" (number 10) moved out of oneof "discount".')


# --- enums: ENUM_VALUE_NO_DELETE_UNLESS_*_RESERVED, ENUM_VALUE_SAME_NAME, RESERVED_ENUM_NO_DELETE ------------------


def test_enum_value_removed_is_breaking() -> None:
    result = diff(("    CASH = 2;\n", ""))
    assert_only_breaking(
        result, 'Enum value "trip.v1.Trip.Payment.CASH" (2) was deleted without reserving its number and name.'
    )


def test_enum_value_removed_with_number_and_name_reserved_is_compatible() -> None:
    result = diff(("    CASH = 2;\n", '    reserved 2;\n    reserved "CASH";\n'))
    assert result.breaking == []
    assert 'Enum value "trip.v1.Trip.Payment.CASH" (2) was deleted; its number and name are reserved.' in result.changes


def test_enum_value_removed_with_only_the_number_reserved_is_breaking() -> None:
    result = diff(("    CASH = 2;\n", "    reserved 2;\n"))
    assert_only_breaking(result, 'Enum value "trip.v1.Trip.Payment.CASH" (2) was deleted without reserving its name.')


def test_enum_value_renamed_is_breaking() -> None:
    result = diff(("CASH = 2;", "CASH_PAYMENT = 2;"))
    assert_only_breaking(result, 'Enum value "trip.v1.Trip.Payment.CASH" (2) was renamed to "CASH_PAYMENT".')


def test_enum_alias_added_is_breaking_but_removed_is_not() -> None:
    # Buf's ENUM_VALUE_SAME_NAME: a reader of the old version cannot parse the new name from JSON.
    result = diff(("  enum Payment {\n", "  enum Payment {\n    option allow_alias = true;\n"),
                  ("    CASH = 2;", "    CASH = 2;\n    MONEY = 2;"))
    assert_only_breaking(
        result,
        'Enum value "trip.v1.Trip.Payment.CASH" (2) gained the alias "MONEY", which older JSON readers cannot parse.',
    )
    aliased = edit(("  enum Payment {\n", "  enum Payment {\n    option allow_alias = true;\n"),
                   ("    CASH = 2;", "    CASH = 2;\n    MONEY = 2;"))
    result = diff(("    MONEY = 2;\n", ""), ("    option allow_alias = true;\n", ""), base=aliased)
    assert result.breaking == []
    assert result.changes == ['Enum value "trip.v1.Trip.Payment.CASH" (2) lost the alias "MONEY".']


def test_enum_reserved_range_removed_is_breaking() -> None:
    base = edit(("    CASH = 2;", "    CASH = 2;\n    reserved 5 to 7;"))
    result = diff(("    reserved 5 to 7;", "    reserved 5;"), base=base)
    assert_only_breaking(result, 'Reserved numbers 6 to 7 of "trip.v1.Trip.Payment" are no longer reserved.')


# --- MESSAGE_NO_DELETE / ENUM_NO_DELETE ----------------------------------------------------------------------------


def test_used_nested_message_removed_is_breaking() -> None:
    result = diff(
        ("  message Location {\n    double lat = 1;\n    double lon = 2;\n  }\n", ""),
        ("  Location pickup = 5;\n", ""),
    )
    assert result.breaking == [
        'Field "trip.v1.Trip.pickup" (number 5) was deleted without reserving its number and name.',
        'Message "trip.v1.Trip.Location", used by field "trip.v1.Trip.pickup", was deleted.',
    ]


def test_unused_nested_message_removed_is_only_noted() -> None:
    result = diff(("  message Unused {\n    string note = 1;\n  }\n", ""))
    assert result.breaking == []
    assert result.changes == ['Message "trip.v1.Trip.Unused" was deleted (no field used it).']


def test_used_nested_enum_removed_is_breaking() -> None:
    result = diff(
        ("  enum Payment {\n    PAYMENT_UNSPECIFIED = 0;\n    CARD = 1;\n    CASH = 2;\n  }\n", ""),
        ("  Payment payment = 4;\n", "  reserved 4;\n  reserved \"payment\";\n"),
    )
    assert result.breaking == ['Enum "trip.v1.Trip.Payment", used by field "trip.v1.Trip.payment", was deleted.']


# --- FILE_SAME_PACKAGE, RESERVED_MESSAGE_NO_DELETE, renamed root ---------------------------------------------------


def test_package_change_is_breaking_and_reported_once() -> None:
    old = message(BASE)
    new = message(BASE.replace("package trip.v1;", "package trip.v2;"), name="trip.v2.Trip")
    result = compare(old, new)
    assert result.breaking == ['Package changed from "trip.v1" to "trip.v2".']
    assert result.changes == result.breaking


def test_reserved_range_removed_is_breaking() -> None:
    result = diff(("  reserved 20 to 22;", "  reserved 20;"))
    assert_only_breaking(result, 'Reserved numbers 21 to 22 of "trip.v1.Trip" are no longer reserved.')


def test_reserved_name_removed_is_breaking() -> None:
    result = diff(('  reserved "legacy";\n', ""))
    assert_only_breaking(result, 'Reserved name "legacy" of "trip.v1.Trip" is no longer reserved.')


def test_root_message_renamed_is_only_noted() -> None:
    old = message(BASE)
    new = message(BASE.replace("message Trip {", "message Ride {"), name="trip.v1.Ride")
    result = compare(old, new)
    assert result.breaking == []
    assert result.changes == ['Message "trip.v1.Trip" was renamed to "trip.v1.Ride".']


# --- proto2: MESSAGE_SAME_REQUIRED_FIELDS, FIELD_SAME_DEFAULT ------------------------------------------------------

PROTO2 = """syntax = "proto2";
package legacy;
message Reading {
  required string sensor = 1;
  optional double value = 2 [default = 1.5];
  optional string note = 3;
}
"""


def test_required_field_added_is_breaking() -> None:
    result = diff(("  optional string note = 3;", "  optional string note = 3;\n  required int32 level = 4;"),
                  base=PROTO2, name="legacy.Reading")
    assert_only_breaking(
        result, 'Required field "legacy.Reading.level" (number 4) was added; old writers never send it.'
    )


def test_required_to_optional_is_breaking() -> None:
    result = diff(("required string sensor = 1;", "optional string sensor = 1;"), base=PROTO2, name="legacy.Reading")
    assert_only_breaking(
        result,
        'Field "legacy.Reading.sensor" (number 1) changed cardinality from required to optional (explicit presence).',
    )


def test_default_change_is_breaking() -> None:
    result = diff(("[default = 1.5]", "[default = 2.5]"), base=PROTO2, name="legacy.Reading")
    assert_only_breaking(result, 'Field "legacy.Reading.value" (number 2) changed its default value from 1.5 to 2.5.')


# --- types in other files and packages, recursion ------------------------------------------------------------------

COMMON = """syntax = "proto3";
package common.v1;
message Money {
  string currency = 1;
  int64 units = 2;
}
"""

ORDER = """syntax = "proto3";
package shop.v1;
import "common/v1/money.proto";
message Order {
  string id = 1;
  common.v1.Money total = 2;
  repeated Order children = 3;
}
"""


def order(common: str) -> Descriptor:
    imports = (ProtoFile("common/v1/money.proto", common.encode()),)
    return compile_schema(ProtoFile("shop.proto", ORDER.encode()), imports).descriptor("shop.v1.Order")


def test_changes_in_imported_types_are_found_and_named() -> None:
    result = compare(order(COMMON), order(COMMON.replace("int64 units = 2;", "string units = 2;")))
    assert_only_breaking(result, 'Field "common.v1.Money.units" (number 2) changed type from int64 to string.')


def test_imported_type_moved_to_another_package_is_breaking() -> None:
    moved = COMMON.replace("package common.v1;", "package common.v2;")
    imports = (ProtoFile("common/v1/money.proto", moved.encode()),)
    new = compile_schema(ProtoFile("shop.proto", ORDER.replace("common.v1.Money", "common.v2.Money").encode()),
                         imports).descriptor("shop.v1.Order")
    result = compare(order(COMMON), new)
    assert_only_breaking(
        result, 'Field "shop.v1.Order.total" (number 2) changed type from common.v1.Money to common.v2.Money.'
    )


def test_recursive_messages_terminate() -> None:
    result = compare(order(COMMON), order(COMMON))
    assert result == Comparison([], [])


def test_every_breaking_sentence_names_a_qualified_element() -> None:
    result = diff(
        ("string vendor = 2;", "string vendor_id = 2;"),
        ("double fare = 3;", "string fare = 3;"),
        ("    CASH = 2;\n", ""),
        ("repeated int32 stops = 7;", "int32 stops = 7;"),
    )
    assert len(result.breaking) == 4
    for sentence in result.breaking:
        assert '"trip.v1.Trip.' in sentence and sentence.endswith(".")


# --- less common rules ---------------------------------------------------------------------------------------------


def _single(body: str, name: str, imports: dict[str, str] | None = None) -> Descriptor:
    files = tuple(ProtoFile(n, b.encode()) for n, b in (imports or {}).items())
    return compile_schema(ProtoFile("m.proto", body.encode()), files).descriptor(name)


def test_enum_moved_to_another_package_with_a_superset_of_values_is_compatible() -> None:
    # Buf's exception in FIELD_WIRE_JSON_COMPATIBLE_TYPE: same short name, old values kept.
    a = 'syntax = "proto3"; package a; enum Color { C0 = 0; RED = 1; }'
    b = 'syntax = "proto3"; package b; enum Color { C0 = 0; RED = 1; BLUE = 2; }'
    user = 'syntax = "proto3"; package m; import "e.proto"; message M { %s.Color c = 1; }'
    old, new = _single(user % "a", "m.M", {"e.proto": a}), _single(user % "b", "m.M", {"e.proto": b})
    forward = compare(old, new)
    assert forward.breaking == []
    assert forward.changes[0] == (
        'Field "m.M.c" (number 1) changed type from a.Color to b.Color, which keeps every value.'
    )
    backward = compare(new, old)  # BLUE would be lost
    assert backward.breaking == ['Field "m.M.c" (number 1) changed type from b.Color to a.Color.']


def test_editions_json_format_change_is_breaking() -> None:
    body = 'edition = "2023"; package e; message M { %s int32 a = 1; }'
    result = compare(_single(body % "", "e.M"),
                     _single(body % "option features.json_format = LEGACY_BEST_EFFORT;", "e.M"))
    assert result.breaking == ['Message "e.M" no longer supports JSON (features.json_format).']


def test_editions_delimited_encoding_is_a_different_type() -> None:
    body = 'edition = "2023"; package g; message M { message Sub { int32 x = 1; } Sub sub = 1%s; }'
    result = compare(_single(body % "", "g.M"), _single(body % " [features.message_encoding = DELIMITED]", "g.M"))
    assert result.breaking == [
        'Field "g.M.sub" (number 1) changed type from g.M.Sub to g.M.Sub (delimited encoding).'
    ]


def test_map_key_type_change_is_breaking() -> None:
    result = diff(("map<string, string> tags = 6;", "map<int64, string> tags = 6;"))
    assert result.breaking == [
        'The keys of map field "trip.v1.Trip.tags" (number 6) changed type from string to int64.'
    ]


def test_swapped_numbers_are_two_reuses_and_reordering_is_only_noted() -> None:
    base = 'syntax = "proto3"; package k; message M { int32 a = 1; int32 b = 2; }'
    swapped = compare(_single(base, "k.M"), _single(base.replace("a = 1; int32 b = 2", "a = 2; int32 b = 1"), "k.M"))
    assert swapped.breaking == [
        'Field number 1 of "k.M" was reused: it was "a" (int32) and is now "b" (int32).',
        'Field number 2 of "k.M" was reused: it was "b" (int32) and is now "a" (int32).',
    ]
    other_order = base.replace("int32 a = 1; int32 b = 2;", "int32 b = 2; int32 a = 1;")
    reordered = compare(_single(base, "k.M"), _single(other_order, "k.M"))
    assert reordered == Comparison([], ['Fields of "k.M" were reordered.'])


def test_proto2_to_proto3_is_noted() -> None:
    p2 = 'syntax = "proto2"; package s; message M { optional int32 a = 1; enum K { A = 0; } optional K k = 2; }'
    p3 = 'syntax = "proto3"; package s; message M { optional int32 a = 1; enum K { A = 0; } K k = 2; }'
    result = compare(_single(p2, "s.M"), _single(p3, "s.M"))
    assert result.breaking == []
    assert result.changes == [
        "File syntax changed from proto2 to proto3.",
        'Field "s.M.k" (number 2) changed from optional (explicit presence) to optional (implicit presence).',
        'Enum "s.M.K" changed from closed to open.',
    ]
