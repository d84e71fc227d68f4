"""The zoo's `.arch` files, installed as the package `archdsl.zoo` (read with importlib.resources)."""
