"""`cloudward serve`: the always-on service (ingestion, REST API, tokens, metrics) around one engine."""
