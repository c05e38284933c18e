"""Stage 2, compiling: a declaration becomes a ``CompiledRoute`` once, when its route reaches an app: the
endpoint's parameters and dependency tree, its item type and kinds, its encoder and one ``StreamPlan`` per format."""
