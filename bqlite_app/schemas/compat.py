"""INTERFACE STUB (helper A implements): breaking-change detection (Buf WIRE_JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor


@dataclass(frozen=True)
class Comparison:
    breaking: list[str] = field(default_factory=list)   # readable sentences naming the field
    changes: list[str] = field(default_factory=list)    # every change, breaking or not, for the version history


def compare(old: Descriptor, new: Descriptor) -> Comparison:
    raise NotImplementedError
