"""Run folders: reading, reporting and serving what a search wrote."""
