"""`archdsl lsp`: a Language Server Protocol server for `.arch` files (stdio, pygls).

    analysis     one document version -> AST, IR graph, errors, token index (cached)
    positions    LSP positions <-> source spans, the word under the cursor
    diagnostics  ArchError -> LSP diagnostic
    hover        shapes, params and MACs of the layer, block, section, name or variant
    completion   layer tokens, arguments, blocks, parameters, `use` paths
    symbols      the outline (sections, blocks, variants, lets) and go-to-definition
    server       the pygls wiring (only this module imports pygls)
    stdio_client a small synchronous client, for tests, the benchmark and scripts

Nothing here imports torch: the editor server only parses, checks and counts.
"""

from __future__ import annotations


def main() -> int:
    """Run the server on stdin/stdout until the client exits."""
    from archdsl.lsp.server import serve

    serve()
    return 0
