"""The IR: op graph, groups, values, and lowering from the AST."""

from archdsl.ir.graph import Graph, Group, Node

__all__ = ["Graph", "Group", "Node"]
