"""Front end: `.arch` text to AST (`archdsl.syntax.ast`), with source spans."""

from archdsl.syntax.imports import parse_text
from archdsl.syntax.parser import parse_set_arg

__all__ = ["parse_set_arg", "parse_text"]
