"""Stage 4, binding: a request becomes the arguments of its path operation: parameters from every location,
bodies read within their limits (JSON, forms, streamed items), ``Depends`` with ``yield``."""
