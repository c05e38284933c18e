"""Stage 3, routing: routers and routes match a request and delegate it to the handler of the compiled route
(a value handler or a stream handler), which negotiates, binds and runs."""
