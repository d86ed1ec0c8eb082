"""Load jobs: a source file on disk (CSV, NDJSON, Parquet, Avro) into a table, all or nothing, as a job.

Core level: the BigQuery face and the UI both call ``LoadService``; nothing here imports a face.
"""

from bqlite_app.loads.bad_records import BadRecords, Problem, TooManyBadRecords
from bqlite_app.loads.errors import DatasetNotFound, DestinationNotFound, TableNotEmpty
from bqlite_app.loads.service import InferredSchema, LoadReport, LoadService
from bqlite_app.loads.spec import LoadSpec, validate

__all__ = [
    "BadRecords", "DatasetNotFound", "DestinationNotFound", "InferredSchema", "LoadReport", "LoadService",
    "LoadSpec", "Problem", "TableNotEmpty", "TooManyBadRecords", "validate",
]
