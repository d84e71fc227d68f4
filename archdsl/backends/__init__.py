"""Backends: a checked IR graph -> Python source (`codegen`), a module built by running it
(`load`), its deploy form (`deploy`), the summary and per-stage table (`summary`), diagrams
(`graphviz`) and architecture diffs (`diff`). Only `load` and `deploy` import torch."""
