"""The pure helpers behind the jobs and schema pages: readable numbers and errors, import names, field trees."""

from bqlite_app.errors import SchemaIncompatible, SchemaParseFailed, ValidationFailed
from bqlite_app.humanize import human_bytes, human_duration_ms
from bqlite_app.schemas.compat import Comparison
from bqlite_app.schemas.models import SchemaFieldPublic
from bqlite_app.schemas.registry import SchemaDiff
from bqlite_app.state.display import error_lines, route_tail
from bqlite_app.state.schema_detail import flatten_fields, workspace_url
from bqlite_app.state.schemas import ChangeRow, change_preview, default_table_name


def test_numbers_read_like_a_console():
    assert [human_bytes(v) for v in (None, 0, 1023, 1536, 5 * 1024**3)] == ["—", "0 B", "1023 B", "1.5 KB", "5.0 GB"]
    assert [human_duration_ms(v) for v in (None, 8, 1500, 61_000, 3_660_000)] == [
        "—", "8 ms", "1.5 s", "1 min 1 s", "1 h 1 min"]


def test_errors_split_into_readable_lines():
    title, lines = error_lines(SchemaParseFailed("a.proto:3:5: Expected \";\".\na.proto:9:1: Unexpected end."))
    assert title == "The .proto did not compile"
    assert lines == ['a.proto:3:5: Expected ";".', "a.proto:9:1: Unexpected end."]
    title, lines = error_lines(SchemaIncompatible(
        '2 breaking change(s) against version 1: Field "t.V.a" (1) changed type from double to string. '
        'Field "t.V.b" (2) was deleted without reserving its number.'))
    assert title == "Not compatible with the registered version"
    assert lines == ["2 breaking change(s) against version 1:",
                     '• Field "t.V.a" (1) changed type from double to string.',
                     '• Field "t.V.b" (2) was deleted without reserving its number.']
    assert error_lines(ValidationFailed("table_name: bad"))[1] == ["table_name: bad"]
    assert error_lines(RuntimeError("boom")) == ("Unexpected error", ["RuntimeError: boom"])


def test_small_helpers():
    assert default_table_name("trips.v1.TripEvent") == "trip_event"
    assert route_tail("/jobs/job_ab%2Fc/") == "job_ab/c"
    assert workspace_url("SELECT * FROM d.t LIMIT 100", "duckdb") == (
        "/?sql=SELECT+%2A+FROM+d.t+LIMIT+100&engine=duckdb")
    tree = [SchemaFieldPublic(name="a", number=1, proto_type="message x.A", mode="NULLABLE", fields=[
        SchemaFieldPublic(name="b", number=2, proto_type="int32", mode="REQUIRED")])]
    assert [(r.name, r.depth) for r in flatten_fields(tree)] == [("a", 0), ("b", 1)]


def test_change_preview_gives_a_verdict_and_marks_breaking_changes():
    def diff(unchanged=False, breaking=(), changes=(), added=()):
        return SchemaDiff(current_version=3, message_type="t.V", unchanged=unchanged,
                          comparison=Comparison(breaking=list(breaking), changes=list(changes)),
                          columns_added=list(added), columns_changed=[])

    assert change_preview(diff(unchanged=True)).verdict == "No changes: version 3 already has this content."
    compatible = change_preview(diff(changes=["Added field t.V.tip."], added=["tip"]))
    assert (compatible.verdict, compatible.tone) == ("Compatible: registering makes version 4. New columns: tip.",
                                                     "green")
    assert compatible.changes == [ChangeRow("Added field t.V.tip.", breaking=False)]
    breaking = change_preview(diff(breaking=["Field t.V.a changed type."],
                                   changes=["Field t.V.a changed type.", "Added field t.V.b."]))
    assert breaking.tone == "red" and breaking.verdict.startswith("Breaking: 1 change(s) against version 3")
    assert [row.breaking for row in breaking.changes] == [True, False]
