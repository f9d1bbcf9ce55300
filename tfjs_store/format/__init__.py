"""The TF.js model format: schemas, weight codec, shards and JSON bytes.

Nothing here knows about URLs or storage.
"""
