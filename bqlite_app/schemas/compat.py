"""Breaking-change detection between two versions of a message, following Buf's WIRE_JSON category.

A new version is compatible when data written with either version reads correctly with the other, in the binary wire
format *and* in protobuf JSON. ``compare(old, new)`` walks the root message, its nested messages and enums, and every
type reached through a field (in other files and packages too). Types are paired through the fields that use them
(same field number), nested declarations by name, so a package rename is reported once instead of for every type.
Each problem is one sentence naming the fully qualified field, enum value or type; ``changes`` lists every difference,
breaking or not, for the version history.

Rules applied (Buf rule names; all in WIRE_JSON unless noted):
- FILE_SAME_PACKAGE: the root message's package must not change.
- FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED + FIELD_NO_DELETE_UNLESS_NAME_RESERVED: a deleted field must have both its
  number and its name reserved. A field that moved to another number is one such deletion, reported as a move.
- FIELD_SAME_NAME: same number, different name (JSON uses names). When the old name lives on at another number or
  the type changed as well, the sentence says the number was *reused*.
- FIELD_SAME_JSON_NAME, FIELD_SAME_ONEOF (synthetic proto3 ``optional`` oneofs ignored), FIELD_SAME_DEFAULT.
- FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY (the successor of FIELD_SAME_LABEL): groups are {optional with explicit
  presence, optional with implicit presence}, {required}, {repeated}, {map}. So optional <-> repeated and
  repeated <-> map break; proto3 ``optional`` <-> implicit presence is the same encoding and only noted.
- FIELD_WIRE_JSON_COMPATIBLE_TYPE, Buf's table (``bufbreakingcheck/util.go``), the intersection of wire and JSON:

      int32, uint32          compatible with each other
      int64, uint64          compatible with each other (JSON strings, hence not with the 32-bit group)
      fixed32, sfixed32      compatible with each other
      fixed64, sfixed64      compatible with each other
      bool | sint32 | sint64 | string | bytes | double | float | group | message | enum
                             each compatible only with itself

  So int32 -> int64, int32 -> bool, sint32 -> sint64, string <-> bytes and enum <-> int32, wire-compatible all,
  break JSON and are breaking here. A message-typed field must keep its message type (by name; a name that only
  follows the root package rename is the same type). An enum-typed field may change enum only if the short name is
  the same and the old values are a subset of the new (Buf's exception).
- MESSAGE_SAME_REQUIRED_FIELDS: adding or deleting a ``required`` field.
- MESSAGE_SAME_MESSAGE_SET_WIRE_FORMAT, MESSAGE_SAME_JSON_FORMAT, ENUM_SAME_JSON_FORMAT (editions ``json_format``).
- RESERVED_MESSAGE_NO_DELETE, RESERVED_ENUM_NO_DELETE: reserved numbers and names stay reserved.
- ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED + ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED, ENUM_VALUE_SAME_NAME.
- MESSAGE_NO_DELETE / ENUM_NO_DELETE are FILE-category in Buf. Here a deleted nested type is breaking only if a field
  of the old version used it (the table had a column of that type); an unused one is only noted.
Not checked (FILE/PACKAGE only in Buf, or no meaning for a table): file options, ctype/jstype, services, extensions,
ONEOF_NO_DELETE, ENUM_SAME_TYPE, FILE_SAME_SYNTAX (these last three appear in ``changes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from bqlite_app.schemas import _compat_tables as t


@dataclass(frozen=True)
class Comparison:
    breaking: list[str] = field(default_factory=list)   # readable sentences naming the field
    changes: list[str] = field(default_factory=list)    # every change, breaking or not, for the version history

    @property
    def compatible(self) -> bool:
        return not self.breaking


def compare(old: Descriptor, new: Descriptor) -> Comparison:
    """Compare two versions of a message under Buf's WIRE_JSON rules (see the module docstring)."""
    comparer = _Comparer(old, new)
    comparer.run()
    return Comparison(breaking=comparer.breaking, changes=comparer.changes)


def _field_ref(fd: FieldDescriptor) -> str:
    return f'Field "{fd.full_name}" (number {fd.number})'


class _Comparer:
    def __init__(self, old: Descriptor, new: Descriptor) -> None:
        self.old_root, self.new_root = old, new
        self.old_package, self.new_package = old.file.package, new.file.package
        self.breaking: list[str] = []
        self.changes: list[str] = []
        self._seen: set[tuple[str, str, str]] = set()
        # Types the old version's table actually used, with the first field that used each (MESSAGE_NO_DELETE).
        self._old_used: dict[str, str] = {}
        self._collect_used(old)

    def _break(self, sentence: str) -> None:
        self.breaking.append(sentence)
        self.changes.append(sentence)

    def _note(self, sentence: str) -> None:
        self.changes.append(sentence)

    def _collect_used(self, message: Descriptor) -> None:
        for fd in message.fields:
            target = fd.message_type or fd.enum_type
            if target is None or target.full_name in self._old_used:
                continue
            self._old_used[target.full_name] = fd.full_name
            if fd.message_type is not None:
                self._collect_used(fd.message_type)

    def _renamed(self, old_name: str, old_file_package: str) -> str:
        """``old_name`` as it reads after a rename of the root message or of its package, which are reported once
        at the root; types of other packages keep their names."""
        old_root, new_root = self.old_root.full_name, self.new_root.full_name
        if old_name == old_root or old_name.startswith(old_root + "."):
            return new_root + old_name[len(old_root) :]
        if self.old_package == self.new_package or old_file_package != self.old_package:
            return old_name
        relative = old_name[len(self.old_package) + 1 :] if self.old_package else old_name
        return f"{self.new_package}.{relative}" if self.new_package else relative

    def _same_type(self, old: Descriptor | EnumDescriptor, new: Descriptor | EnumDescriptor) -> bool:
        return self._renamed(old.full_name, old.file.package) == new.full_name

    # --- root ---------------------------------------------------------------------------------------------------

    def run(self) -> None:
        if self.old_package != self.new_package:  # FILE_SAME_PACKAGE
            self._break(f'Package changed from "{self.old_package}" to "{self.new_package}".')
        elif self.old_root.full_name != self.new_root.full_name:
            # Message names are not on the wire or in JSON (Buf: MESSAGE_NO_DELETE is FILE-only).
            self._note(f'Message "{self.old_root.full_name}" was renamed to "{self.new_root.full_name}".')
        old_syntax, new_syntax = t.file_syntax(self.old_root), t.file_syntax(self.new_root)
        if old_syntax != new_syntax:  # FILE_SAME_SYNTAX is FILE-only; presence/cardinality rules catch the effects
            self._note(f"File syntax changed from {old_syntax} to {new_syntax}.")
        self._message(self.old_root, self.new_root)

    # --- messages -----------------------------------------------------------------------------------------------

    def _message(self, old: Descriptor, new: Descriptor) -> None:
        key = ("message", old.full_name, new.full_name)
        if key in self._seen:  # recursive and shared types are compared once
            return
        self._seen.add(key)
        name = new.full_name
        old_proto, new_proto = t.message_proto(old), t.message_proto(new)

        if old.GetOptions().message_set_wire_format != new.GetOptions().message_set_wire_format:
            # MESSAGE_SAME_MESSAGE_SET_WIRE_FORMAT
            self._break(f'Message "{name}" changed option message_set_wire_format.')
        if t.json_format_allowed(old) and not t.json_format_allowed(new):  # MESSAGE_SAME_JSON_FORMAT
            self._break(f'Message "{name}" no longer supports JSON (features.json_format).')

        self._fields(old, new, new_proto)
        self._reserved(
            f'"{name}"', t.message_reserved(old_proto), t.message_reserved(new_proto),
            old_proto.reserved_name, new_proto.reserved_name,
        )
        self._oneofs(old, new, old_proto, new_proto)
        self._nested(old, new)

    def _fields(self, old: Descriptor, new: Descriptor, new_proto: descriptor_pb2.DescriptorProto) -> None:
        old_fields, new_fields = old.fields_by_number, new.fields_by_number
        moved: dict[int, FieldDescriptor] = {}  # new number -> the old field that moved there
        for number in sorted(old_fields):
            fd = old_fields[number]
            now = new.fields_by_name.get(fd.name)
            if now is not None and now.number != number and now.number not in old_fields:
                moved[now.number] = fd
                # FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED: the name cannot be reserved while it is in use.
                self._break(f'Field "{fd.full_name}" moved from number {number} to number {now.number}.')
        moved_from = {fd.number for fd in moved.values()}
        for number in sorted(old_fields):
            if number not in new_fields and number not in moved_from:
                self._field_deleted(old_fields[number], new_proto)
        for number in sorted(new_fields):
            if number not in old_fields and number not in moved:
                fd = new_fields[number]
                if fd.is_required:  # MESSAGE_SAME_REQUIRED_FIELDS
                    self._break(
                        f'Required field "{fd.full_name}" (number {number}) was added; old writers never send it.'
                    )
                else:
                    self._note(f'Added field "{fd.full_name}" (number {number}, {t.type_name(fd)}).')
        for number in sorted(set(old_fields) & set(new_fields)):
            self._field(old_fields[number], new_fields[number], new)
        common = set(old.fields_by_name) & set(new.fields_by_name)
        old_order = [f.name for f in old.fields if f.name in common]
        new_order = [f.name for f in new.fields if f.name in common]
        if old_order != new_order:  # harmless on the wire, but columns follow declaration order
            self._note(f'Fields of "{new.full_name}" were reordered.')

    def _field_deleted(self, fd: FieldDescriptor, new_proto: descriptor_pb2.DescriptorProto) -> None:
        number_reserved = t.in_ranges(fd.number, t.message_reserved(new_proto))
        name_reserved = fd.name in new_proto.reserved_name
        ref = _field_ref(fd)
        # FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED (wire) and FIELD_NO_DELETE_UNLESS_NAME_RESERVED (JSON).
        if number_reserved and name_reserved:
            self._note(f"{ref} was deleted; its number and name are reserved.")
        elif name_reserved:
            self._break(f"{ref} was deleted without reserving its number.")
        elif number_reserved:
            self._break(f'{ref} was deleted without reserving its name "{fd.name}".')
        else:
            self._break(f"{ref} was deleted without reserving its number and name.")
        if fd.is_required:  # MESSAGE_SAME_REQUIRED_FIELDS
            self._break(f"Required {ref[0].lower()}{ref[1:]} was deleted; old readers reject messages without it.")

    def _field(self, old: FieldDescriptor, new: FieldDescriptor, new_parent: Descriptor) -> None:
        ref = _field_ref(new)
        if old.name != new.name:
            reused = old.name in new_parent.fields_by_name or (
                t.WIRE_JSON_TYPE_GROUP[old.type] != t.WIRE_JSON_TYPE_GROUP[new.type]
            )
            if reused:  # FIELD_SAME_NAME, and FIELD_WIRE_JSON_COMPATIBLE_TYPE when the type changed too
                self._break(
                    f'Field number {new.number} of "{new_parent.full_name}" was reused: it was "{old.name}" '
                    f'({t.type_name(old)}) and is now "{new.name}" ({t.type_name(new)}).'
                )
                return
            self._break(f'Field "{old.full_name}" (number {old.number}) was renamed to "{new.name}"; '
                        "JSON uses field names.")  # FIELD_SAME_NAME
        elif old.json_name != new.json_name:  # FIELD_SAME_JSON_NAME
            self._break(f'{ref} changed its JSON name from "{old.json_name}" to "{new.json_name}".')

        self._cardinality(old, new, ref)
        self._oneof_membership(old, new, ref)
        if t.is_map(old) and t.is_map(new):
            entry_old, entry_new = old.message_type.fields_by_number, new.message_type.fields_by_number
            what = f"map {ref[0].lower()}{ref[1:]}"
            self._type(entry_old[1], entry_new[1], f"The keys of {what}")
            self._type(entry_old[2], entry_new[2], f"The values of {what}")
        elif t.is_map(old) == t.is_map(new):
            self._type(old, new, ref)
            self._default(old, new, ref)

    def _cardinality(self, old: FieldDescriptor, new: FieldDescriptor, ref: str) -> None:
        before, after = t.cardinality(old), t.cardinality(new)
        if before == after:
            return
        if t.CARDINALITY_GROUP[before] != t.CARDINALITY_GROUP[after]:  # FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY
            self._break(f"{ref} changed cardinality from {before} to {after}.")
        else:  # explicit <-> implicit presence: same encoding, only the nullability of the column differs
            self._note(f"{ref} changed from {before} to {after}.")

    def _oneof_membership(self, old: FieldDescriptor, new: FieldDescriptor, ref: str) -> None:
        before, after = t.real_oneof(old), t.real_oneof(new)
        if before == after:
            return
        # FIELD_SAME_ONEOF: setting another member clears this one, so membership changes what readers see.
        if before is None:
            self._break(f'{ref} moved into oneof "{after}".')
        elif after is None:
            self._break(f'{ref} moved out of oneof "{before}".')
        else:
            self._break(f'{ref} moved from oneof "{before}" to oneof "{after}".')

    def _type(self, old: FieldDescriptor, new: FieldDescriptor, subject: str) -> None:
        before, after = t.type_name(old), t.type_name(new)
        if old.type != new.type:
            if t.WIRE_JSON_TYPE_GROUP[old.type] != t.WIRE_JSON_TYPE_GROUP[new.type]:  # FIELD_WIRE_JSON_COMPATIBLE_TYPE
                self._break(f"{subject} changed type from {before} to {after}.")
            else:
                self._note(f"{subject} changed type from {before} to {after} (wire- and JSON-compatible).")
            return
        if old.message_type is not None and new.message_type is not None:
            if self._same_type(old.message_type, new.message_type):
                self._message(old.message_type, new.message_type)
            else:  # FIELD_WIRE_JSON_COMPATIBLE_TYPE compares message types by name
                self._break(f"{subject} changed type from {before} to {after}.")
        elif old.enum_type is not None and new.enum_type is not None:
            if self._same_type(old.enum_type, new.enum_type):
                self._enum(old.enum_type, new.enum_type)
            elif old.enum_type.name == new.enum_type.name and t.enum_is_subset(old.enum_type, new.enum_type):
                # Buf's exception: same short name and a superset of the values reads the same, wire and JSON.
                self._note(f"{subject} changed type from {before} to {after}, which keeps every value.")
                self._enum(old.enum_type, new.enum_type)
            else:
                self._break(f"{subject} changed type from {before} to {after}.")

    def _default(self, old: FieldDescriptor, new: FieldDescriptor, ref: str) -> None:
        if old.is_repeated or new.is_repeated or old.message_type is not None or new.message_type is not None:
            return
        if not (old.has_default_value or new.has_default_value):
            return
        # FIELD_SAME_DEFAULT: readers fill in the default for absent fields, so both sides must agree on it.
        if not t.defaults_equal(old.default_value, new.default_value):
            self._break(f"{ref} changed its default value from {t.default_text(old)} to {t.default_text(new)}.")

    def _reserved(
        self, owner: str, old_ranges: list[tuple[int, int]], new_ranges: list[tuple[int, int]],
        old_names: Iterable[str], new_names: Iterable[str],
    ) -> None:
        # RESERVED_MESSAGE_NO_DELETE / RESERVED_ENUM_NO_DELETE: un-reserving lets a later version reuse the number.
        for start, end in t.uncovered(old_ranges, new_ranges):
            what = "number {} of {} is" if start == end else "numbers {} of {} are"
            self._break(f"Reserved {what.format(t.range_text(start, end), owner)} no longer reserved.")
        for name in old_names:
            if name not in new_names:
                self._break(f'Reserved name "{name}" of {owner} is no longer reserved.')
        for start, end in t.uncovered(new_ranges, old_ranges):
            self._note(f"Reserved {t.range_text(start, end)} in {owner}.")
        for name in new_names:
            if name not in old_names:
                self._note(f'Reserved name "{name}" in {owner}.')

    def _oneofs(
        self, old: Descriptor, new: Descriptor, old_proto: descriptor_pb2.DescriptorProto,
        new_proto: descriptor_pb2.DescriptorProto,
    ) -> None:
        # ONEOF_NO_DELETE is FILE/PACKAGE only; membership changes are judged per field above.
        before = {o.name for o in old.oneofs if not t.is_synthetic(o, old_proto)}
        after = {o.name for o in new.oneofs if not t.is_synthetic(o, new_proto)}
        for name in sorted(after - before):
            self._note(f'Added oneof "{new.full_name}.{name}".')
        for name in sorted(before - after):
            self._note(f'Deleted oneof "{old.full_name}.{name}".')

    def _nested(self, old: Descriptor, new: Descriptor) -> None:
        old_messages = {m.name: m for m in old.nested_types if not m.GetOptions().map_entry}
        new_messages = {m.name: m for m in new.nested_types if not m.GetOptions().map_entry}
        for name, message in old_messages.items():
            if name in new_messages:
                self._message(message, new_messages[name])
            else:
                self._type_deleted("Message", message.full_name)
        for name, message in new_messages.items():
            if name not in old_messages:
                self._note(f'Added message "{message.full_name}".')
        old_enums = {e.name: e for e in old.enum_types}
        new_enums = {e.name: e for e in new.enum_types}
        for name, enum in old_enums.items():
            if name in new_enums:
                self._enum(enum, new_enums[name])
            else:
                self._type_deleted("Enum", enum.full_name)
        for name, enum in new_enums.items():
            if name not in old_enums:
                self._note(f'Added enum "{enum.full_name}".')

    def _type_deleted(self, kind: str, full_name: str) -> None:
        user = self._old_used.get(full_name)
        if user is not None:  # MESSAGE_NO_DELETE / ENUM_NO_DELETE, for types the table used
            self._break(f'{kind} "{full_name}", used by field "{user}", was deleted.')
        else:
            self._note(f'{kind} "{full_name}" was deleted (no field used it).')

    # --- enums --------------------------------------------------------------------------------------------------

    def _enum(self, old: EnumDescriptor, new: EnumDescriptor) -> None:
        key = ("enum", old.full_name, new.full_name)
        if key in self._seen:
            return
        self._seen.add(key)
        name = new.full_name
        old_proto, new_proto = t.enum_proto(old), t.enum_proto(new)
        old_values, new_values = t.names_by_number(old), t.names_by_number(new)
        new_reserved = t.enum_reserved(new_proto)
        for number, names in sorted(old_values.items()):
            label = f'Enum value "{old.full_name}.{names[0]}" ({number})'
            if number not in new_values:
                # ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED (wire) + ..._UNLESS_NAME_RESERVED (JSON).
                number_ok = t.in_ranges(number, new_reserved)
                names_ok = all(n in new_proto.reserved_name for n in names)
                if number_ok and names_ok:
                    self._note(f"{label} was deleted; its number and name are reserved.")
                elif names_ok:
                    self._break(f"{label} was deleted without reserving its number.")
                elif number_ok:
                    self._break(f"{label} was deleted without reserving its name.")
                else:
                    self._break(f"{label} was deleted without reserving its number and name.")
            elif not set(new_values[number]) <= set(names):
                # ENUM_VALUE_SAME_NAME: every name a number has now must be one it had, or old JSON readers fail.
                added = ", ".join(f'"{n}"' for n in new_values[number] if n not in names)
                if set(names) & set(new_values[number]):
                    self._break(f"{label} gained the alias {added}, which older JSON readers cannot parse.")
                else:
                    self._break(f"{label} was renamed to {added}.")
            elif set(new_values[number]) != set(names):
                lost = ", ".join(f'"{n}"' for n in names if n not in new_values[number])
                self._note(f"{label} lost the alias {lost}.")
        for number, names in sorted(new_values.items()):
            if number not in old_values:
                self._note(f'Added enum value "{name}.{names[0]}" ({number}).')
        self._reserved(f'"{name}"', t.enum_reserved(old_proto), new_reserved, old_proto.reserved_name,
                       new_proto.reserved_name)
        if t.json_format_allowed(old) and not t.json_format_allowed(new):  # ENUM_SAME_JSON_FORMAT
            self._break(f'Enum "{name}" no longer supports JSON (features.json_format).')
        if old.is_closed != new.is_closed:  # ENUM_SAME_TYPE is FILE/PACKAGE only: unknown values still parse
            before, after = ("closed", "open") if old.is_closed else ("open", "closed")
            self._note(f'Enum "{name}" changed from {before} to {after}.')

