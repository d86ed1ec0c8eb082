"""The .proto cases shared by the translate, ingest and round-trip tests (compiled once per process)."""

from __future__ import annotations

import io
from functools import cache

from google.protobuf.message import Message

from bqlite_app.schemas.compiler import CompiledSchema, ProtoFile, compile_schema

TRIP_PROTO = """
syntax = "proto3";
package bq.test;

import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Payment {
  PAYMENT_UNSPECIFIED = 0;
  CARD = 1;
  CASH = 2;
}

message Location {
  double lat = 1;
  double lon = 2;
  string name = 3;
}

message Scalars {
  double f_double = 1;
  float f_float = 2;
  int32 f_int32 = 3;
  int64 f_int64 = 4;
  uint32 f_uint32 = 5;
  uint64 f_uint64 = 6;
  sint32 f_sint32 = 7;
  sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9;
  fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11;
  sfixed64 f_sfixed64 = 12;
  bool f_bool = 13;
  string f_string = 14;
  bytes f_bytes = 15;
}

message Trip {
  uint64 id = 1;
  Payment payment = 2;
  Location pickup = 3;
  repeated int32 counts = 4;
  repeated Location stops = 5;
  map<string, int64> tags = 6;
  map<int32, Location> places = 7;
  oneof fare {
    double amount = 8;
    string voucher = 9;
    Location refund_at = 10;
  }
  optional int32 passengers = 11;
  google.protobuf.Int64Value tip = 12;
  google.protobuf.StringValue note = 13;
  google.protobuf.Timestamp at = 14;
  google.protobuf.Duration took = 15;
  google.protobuf.Struct extra = 16;
  google.protobuf.Any detail = 17;
  bytes raw = 18;
  repeated Payment history = 19;
  map<string, Payment> modes = 20;
  repeated google.protobuf.Timestamp marks = 21;
  google.protobuf.Value any_value = 22;
}

message Node {
  string name = 1;
  Node child = 2;
  repeated Node kids = 3;
}

// Everything the round-trip property test writes to both engines and reads back.
message Everything {
  int64 seq = 1;
  Scalars scalars = 2;
  Payment payment = 3;
  repeated int64 counts = 4;
  repeated Location stops = 5;
  map<string, int64> tags = 6;
  map<uint64, Location> places = 7;
  oneof fare {
    double amount = 8;
    string voucher = 9;
    Location refund_at = 10;
  }
  optional sint32 passengers = 11;
  google.protobuf.UInt64Value big = 12;
  google.protobuf.StringValue note = 13;
  google.protobuf.Timestamp at = 14;
  google.protobuf.Duration took = 15;
  google.protobuf.Struct extra = 16;
  bytes raw = 17;
  repeated Payment history = 18;
  map<string, Payment> modes = 19;
  repeated google.protobuf.Timestamp marks = 20;
  Node tree = 21;
  float ratio = 22;
  google.protobuf.BytesValue blob = 23;
}

message Flat {
  int64 id = 1;
  double fare = 2;
  float tip = 3;
  int32 passengers = 4;
  string vendor = 5;
  bool paid = 6;
  uint64 distance_m = 7;
  sint64 delta = 8;
  Payment payment = 9;
  bytes token = 10;
}
"""

LEGACY_PROTO = """
syntax = "proto2";
package bq.legacy;

enum Level {
  LOW = 1;
  HIGH = 2;
}

// protoc wants 0 first in an enum used as a map value, even a closed one.
enum Mode {
  MODE_OFF = 0;
  MODE_ON = 1;
}

message Legacy {
  required int64 id = 1;
  optional string label = 2 [default = "none"];
  optional int32 count = 3 [default = 7];
  optional Level level = 4;
  repeated Level levels = 5;
  map<string, Mode> mode_by_name = 6;
  optional Inner inner = 7;
  repeated int32 packed_nums = 8 [packed = true];
  repeated Level packed_levels = 9 [packed = true];

  message Inner {
    required string code = 1;
    optional bool flag = 2;
  }
}
"""


@cache
def trip_schema() -> CompiledSchema:
    return compile_schema(ProtoFile("bq/test/trip.proto", TRIP_PROTO.encode()))


@cache
def legacy_schema() -> CompiledSchema:
    return compile_schema(ProtoFile("bq/legacy/legacy.proto", LEGACY_PROTO.encode()))


def trip_class(name: str = "bq.test.Trip") -> type[Message]:
    return trip_schema().message_class(name)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def delimited(*payloads: bytes | Message) -> io.BytesIO:
    """A writeDelimitedTo stream of messages (or raw payloads)."""
    body = bytearray()
    for payload in payloads:
        data = payload if isinstance(payload, bytes) else payload.SerializeToString()
        body += varint(len(data)) + data
    return io.BytesIO(bytes(body))
