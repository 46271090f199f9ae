"""States as content-addressed chunks: the cut and manifest (cut.py), where chunks live (store.py), reading a
chunked state through the blob store port (blobs.py). Spec: docs/chunks.md."""
