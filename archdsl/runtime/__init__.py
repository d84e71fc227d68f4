"""The runtime library: the PyTorch code generated networks run.

Every layer class and helper function that generated code needs beyond torch itself is
written once, in these modules, as plain readable PyTorch. `archdsl.build` executes the
generated source, which holds copies of the definitions it uses; `archdsl compile -o`
writes the same text to a file that imports only torch. Nothing here imports the rest
of archdsl.
"""
