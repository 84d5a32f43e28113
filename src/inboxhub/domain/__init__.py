"""Pure domain code: models, events, errors, the search-query AST. No I/O."""
