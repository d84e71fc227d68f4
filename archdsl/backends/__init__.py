"""Backends: IR graph -> torch module (`torch_module`), summary (`summary`), init schemes (`init`)."""
