"""Running student code: a fork server that never holds reference values, hardened children, plain-data results."""
