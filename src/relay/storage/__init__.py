"""Audio object storage: one small interface, a filesystem and an S3 (R2) backend."""
