//! The import pipeline: inspect, ingest, describe, commit.
