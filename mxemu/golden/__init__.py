"""Golden test-vector sets for RTL verification: generate, verify, check."""
