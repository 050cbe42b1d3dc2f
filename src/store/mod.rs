//! The store: an OCI image layout on disk.
