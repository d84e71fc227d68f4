"""Front end: `.arch` text to AST (`archdsl.syntax.ast`), with source spans."""

from archdsl.syntax.parser import parse_set_arg, parse_text

__all__ = ["parse_set_arg", "parse_text"]
