"""The IR's reader index (who reads a node) stays equal to the nodes' inputs through every
pass that rewires the graph, and `Graph.graph` is the same graph as a networkx DiGraph."""

from __future__ import annotations

import networkx as nx
import pytest

import archdsl
from archdsl.passes.inference import run_inference_passes
from tests.conftest import zoo

CASES = [("resnet.arch", "resnet50"), ("repvgg.arch", None), ("convnext.arch", "tiny"), ("googlenet.arch", None),
         ("nasnet.arch", None), ("efficientnet.arch", "b0")]


def _check(g) -> None:
    expected = {(src, n.id) for n in g for src in n.inputs}
    assert set(g.edges()) == expected
    for n in g:
        assert set(g.readers(n.id)) == {m.id for m in g if n.id in m.inputs}
        assert g.n_readers(n.id) == len(g.readers(n.id))
    d = g.graph
    assert isinstance(d, nx.DiGraph) and set(d.edges) == expected and set(d.nodes) >= set(g.nodes)
    assert all(d.edges[src, n.id]["index"] == n.inputs.index(src) for n in g for src in n.inputs
               if n.inputs.count(src) == 1)
    for n in list(g)[:: max(1, len(g) // 12)]:
        assert g.descendants(n.id) == nx.descendants(d, n.id)
        assert g.ancestors(n.id) == nx.ancestors(d, n.id)


@pytest.mark.parametrize("file,variant", CASES)
def test_reader_index_matches_inputs_before_and_after_the_inference_passes(file, variant):
    g = archdsl.compile_graph(zoo(file), variant)
    _check(g)
    folded, _, counts = run_inference_passes(g)
    _check(folded)
    _check(g)  # the passes worked on a copy


def test_inference_passes_changed_the_graphs_checked_above():
    # the check above is only worth something if the passes really rewired those graphs
    changed = {file: sum(run_inference_passes(archdsl.compile_graph(zoo(file), variant))[2].values())
               for file, variant in CASES[:3]}
    assert all(v > 0 for v in changed.values()), changed


def test_the_networkx_view_is_a_copy():
    g = archdsl.compile_graph(zoo("resnet.arch"), "resnet18")
    d = g.graph
    d.remove_node(g.output_id)
    assert g.output_id in g.graph and g.output_id in g.nodes
