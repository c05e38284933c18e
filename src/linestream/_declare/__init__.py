"""Stage 1, declaring: what a path operation declares (a frozen ``RouteDeclaration``) and every option of how
streams are served, layered app -> router -> include -> route. Nothing here analyses an endpoint."""
