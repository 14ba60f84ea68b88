"""harness.base: what every other room of the engine shares, importing none of them.

workspace   HARNESS_HOME's layout, stage markers and stage-folder locks
hashing     digests, flattened settings and setting-by-setting changes
configs     where the shipped declarations live (configs/ at the repository root)
redact      secrets kept out of logs, tags and errors
console     what the harness prints
clock       wall seconds per stage
git         the commit a run ran at
"""
