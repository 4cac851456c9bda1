//! Blob store and catalog.
