"""Diagrams: golden DOT, determinism, SVG for every zoo file, levels of detail, the CLI,
and what happens without the Graphviz `dot` program."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

import archdsl
from archdsl.backends.graphviz import draw, write
from archdsl.cli import main, zoo_files
from tests.conftest import ROOT, zoo

GOLDEN_DIR = ROOT / "tests" / "golden" / "render"
# One line per golden model: (zoo file, variant). Each gets a DOT file per depth;
# ARCHDSL_ACCEPT=1 writes the files.
GOLDEN = [
    ("convnext.arch", "tiny"),
    ("resnet.arch", "resnet50"),
    ("googlenet.arch", "googlenet"),  # branches and concatenation
    ("swin.arch", "tiny"),  # attention
]
DEPTHS = [0, 1, "full"]
NODE_LINE = re.compile(r"^\s+(input|legend|\w+) \[", re.M)

BRANCHY = """\
arch branchy(classes=10)
input 3x32x32

block fire(s, e):
    conv1(s) relu
    cat: [conv1(e) relu] [conv3(e) relu]

block dense_layer(g):
    dense: bn relu conv3(g)

stem  conv3(16) bn relu
stage fire(8, 16) x[2]
stage dense_layer(8) x[3]
head  gap fc(classes)
"""


def drawn_nodes(dot: graphviz.Digraph) -> list[str]:
    """Node statements (not graph/node/edge attribute lines, not edges)."""
    return [m for m in NODE_LINE.findall(dot.source) if m not in ("graph", "node", "edge")]


def golden_path(file: str, variant: str, depth) -> Path:
    return GOLDEN_DIR / f"{Path(file).stem}_{variant}_depth{depth}.dot"


@pytest.mark.parametrize("file,variant,depth", [(f, v, d) for f, v in GOLDEN for d in DEPTHS],
                         ids=[f"{v}-{d}" for _, v in GOLDEN for d in DEPTHS])
def test_golden_dot(file, variant, depth):
    source = archdsl.render(zoo(file), variant, depth=depth).source
    path = golden_path(file, variant, depth)
    if os.environ.get("ARCHDSL_ACCEPT"):
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with ARCHDSL_ACCEPT=1 and look at the diff"


def test_dot_is_byte_identical_across_processes(tmp_path):
    """Same file -> same bytes, whatever the hash seed (no set-order leaks into the DOT)."""
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"resnet_{seed}.dot"
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-m", "archdsl", "render", str(zoo("resnet.arch")), "--variant", "resnet50",
                        "--depth", "full", "-o", str(out)], check=True, env=env, cwd=ROOT, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize("path", zoo_files(), ids=[p.stem for p in zoo_files()])
def test_every_zoo_file_renders_svg(path, tmp_path):
    g = archdsl.compile_graph(path)  # the first variant, as `archdsl render` draws by default
    for depth in DEPTHS:
        out = write(draw(g, depth=depth), tmp_path / f"{path.stem}_{depth}.svg")
        root = ET.parse(out).getroot()
        assert root.tag.endswith("svg")
        assert len(root.findall(".//{http://www.w3.org/2000/svg}g[@class='node']")) >= 3


# ---- levels of detail -------------------------------------------------------------------
@pytest.mark.parametrize("depth", DEPTHS)
def test_drawn_nodes_do_not_grow_with_repeat_counts(depth):
    few = drawn_nodes(archdsl.render(zoo("convnext.arch"), "tiny", depth=depth, depths=[1, 2, 2, 2]))
    many = drawn_nodes(archdsl.render(zoo("convnext.arch"), "tiny", depth=depth, depths=[3, 3, 27, 3]))
    assert len(few) == len(many)
    r50 = drawn_nodes(archdsl.render(zoo("resnet.arch"), "resnet50", depth=depth))
    r152 = drawn_nodes(archdsl.render(zoo("resnet.arch"), "resnet152", depth=depth))
    assert len(r50) == len(r152)


def test_depth0_is_one_box_per_section():
    names = drawn_nodes(archdsl.render(zoo("convnext.arch"), "xlarge", depth=0))
    assert names == ["input", "stem", "stage0", "stage1", "stage2", "stage3", "head"]


def test_full_depth_draws_every_op_when_nothing_repeats():
    g = archdsl.compile_graph(zoo("convnext.arch"), "tiny", depths=[1, 1, 1, 1])
    assert len(drawn_nodes(draw(g, depth="full"))) == len(g)  # every op, input included


def test_depth0_shows_nested_block_calls_as_cells_when_long():
    """SqueezeNet-style: a stem of many `fire` calls lists the calls, not 50 ops."""
    text = BRANCHY.replace("stem  conv3(16) bn relu", "stem  conv3(16) bn relu " + "fire(8, 8) " * 8 + "maxpool3/2")
    src = archdsl.render(text, depth=0).source
    stem = next(line for line in src.splitlines() if line.lstrip().startswith("stem ["))
    assert stem.count("<i>fire</i>") == 8 and ">maxpool3/2<" in stem and " ops<" not in stem
    short = archdsl.render(BRANCHY.replace("stem  conv3(16) bn relu", "stem  conv3(16) bn relu fire(8, 8)"), depth=0).source
    stem = next(line for line in short.splitlines() if line.lstrip().startswith("stem ["))
    assert "<i>fire</i>" not in stem and stem.count(">relu<") == 4  # few ops: the call is expanded


def test_repeat_counts_are_written():
    src = archdsl.render(zoo("convnext.arch"), "small", depth=0).source
    assert "×27" in src and src.count("×3") >= 3
    full = archdsl.render(zoo("resnet.arch"), "resnet152", depth="full").source
    assert "bottleneck ×35</b>" in full  # stage 2: block 0 projects, the other 35 are identical
    one = archdsl.render(zoo("resnet.arch"), "resnet152", depth=1).source
    assert "bottleneck ×36</b>" in one and "first block drawn" in one


def test_nodes_use_dsl_notation_shapes_and_params():
    src = archdsl.render(zoo("convnext.arch"), "tiny", depth=1).source
    for token in ("dw7", "mlp4", "conv4/4(96)", "conv2/2", "gap", "fc(1000)"):
        assert f"<b>{token}</b>" in src
    assert "96×56×56 · 4.8K params" in src  # dw7 of stage 0: 96*49 + 96
    res = archdsl.render(zoo("resnet.arch"), "resnet50", depth=1).source
    assert "<b>conv3/2(128)</b>" in res and "<b>conv1/2(512)</b>" in res  # strided 3x3 and projection
    assert not re.search(r"<b>\w+/1\b", res), "stride 1 is implied, never written"


def test_colours_follow_op_families_with_a_legend():
    from archdsl.backends.graphviz import FAMILY_COLORS, FAMILY_NAMES

    src = archdsl.render(zoo("resnet.arch"), "resnet50", depth=1).source
    for fam in ("conv", "norm", "act", "pool", "linear"):
        assert FAMILY_COLORS[fam] in src
        assert f">{FAMILY_NAMES[fam]}<" in src  # legend entry
    assert re.search(rf'n\d+ \[label=<<b>conv1\(64\)</b>.*fillcolor="{FAMILY_COLORS["conv"]}"', src)
    assert FAMILY_NAMES["attention"] not in src  # only families that are drawn


def test_residuals_branches_and_concatenations():
    g = archdsl.compile_graph(BRANCHY)
    dot = draw(g, depth="full")
    src = dot.source
    cats = [n for n in g if n.op == "cat"]
    # fire's cat has two drawn branch inputs (solid), dense cat's skip input is dashed
    fire_cat = next(n for n in cats if n.token == "cat")
    assert len(re.findall(rf"-> n{fire_cat.id}\b", src)) == 2
    dense_cat = next(n for n in cats if n.token == "dense")
    assert re.search(rf'-> n{dense_cat.id} \[[^]]*style=dashed', src)
    res = archdsl.render(zoo("resnet.arch"), "resnet50", depth=1).source
    adds = re.findall(r"(n\d+) \[label=\"\+\"", res)
    assert len(adds) == 4  # one drawn block per stage
    for a in adds:  # every residual add has one dashed (shortcut) input
        assert len(re.findall(rf"-> {a} \[[^]]*style=dashed", res)) == 1
    assert "cluster_stage0" in res and "fire" in src


def test_same_notation_blocks_collapse_with_shape_ranges():
    """DenseNet-style layers differ only in their growing input: drawn once, with ranges."""
    few = draw(archdsl.compile_graph(BRANCHY.replace("x[3]", "x[2]")), depth="full")
    many = archdsl.render(BRANCHY.replace("x[3]", "x[24]"), depth="full")
    assert len(drawn_nodes(few)) == len(drawn_nodes(many))
    src = archdsl.render(BRANCHY, depth="full").source
    assert "dense_layer ×3" in src
    assert "32–48×32×32 · 64–96 params" in src  # bn sees 32, 40, 48 channels
    assert "<b>cat</b><br/><font point-size=\"9\">40–56×32×32<" in src


def test_rankdir_and_api_returns_digraph():
    dot = archdsl.render(zoo("resnet.arch"), "resnet18", depth=0, rankdir="LR")
    assert isinstance(dot, graphviz.Digraph)
    assert "rankdir=LR" in dot.source
    assert hasattr(dot, "_repr_mimebundle_")  # notebooks display it inline


def test_bad_depth_and_rankdir_are_user_errors():
    for bad in (-1, "deep", True, 1.5):
        with pytest.raises(archdsl.ArchError, match="bad depth"):
            archdsl.render(zoo("resnet.arch"), depth=bad)
    full = archdsl.render(zoo("resnet.arch"), depth="full").source
    assert archdsl.render(zoo("resnet.arch"), depth=2).source == full  # nothing deeper than every op
    assert archdsl.render(zoo("resnet.arch"), depth="1").source == archdsl.render(zoo("resnet.arch"), depth=1).source
    with pytest.raises(archdsl.ArchError, match="bad rankdir"):
        archdsl.render(zoo("resnet.arch"), rankdir="BT")


# ---- the CLI ----------------------------------------------------------------------------
def test_cli_default_output_is_svg_next_to_input(tmp_path, capsys):
    arch = tmp_path / "net.arch"
    shutil.copy(zoo("resnet.arch"), arch)
    assert main(["render", str(arch), "--variant", "resnet18", "--depth", "0"]) == 0
    assert (tmp_path / "net.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
    assert "net.svg" in capsys.readouterr().out


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".dot", b"digraph")])
def test_cli_formats(tmp_path, suffix, magic):
    out = tmp_path / f"resnet{suffix}"
    assert main(["render", str(zoo("resnet.arch")), "-o", str(out), "--rankdir", "LR"]) == 0
    assert out.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp files left


@pytest.mark.parametrize("args,message", [
    (["-o", "x.jpg"], "cannot tell the image format of `x.jpg`"),
    (["--depth", "deep"], "bad depth `deep`"),
    (["--rankdir", "RL"], "bad rankdir `RL`"),
    (["-o", "no/such/folder/x.svg"], "cannot write `no/such/folder/x.svg`: No such file or directory"),
    (["--variant", "resnet51"], "unknown variant"),
])
def test_cli_errors_are_located(args, message, tmp_path, capsys):
    assert main(["render", str(zoo("resnet.arch")), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "^" in err


def test_without_dot_program(tmp_path, monkeypatch, capsys):
    """No `dot` on PATH: .dot still works; images fail with an install hint, exit 1,
    and leave no file (not even a partial or temporary one)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert shutil.which("dot") is None
    assert main(["render", str(zoo("convnext.arch")), "-o", str(out_dir / "convnext.dot")]) == 0
    assert (out_dir / "convnext.dot").read_text(encoding="utf-8").startswith("digraph")
    for fmt in ("svg", "png", "pdf"):
        target = out_dir / f"convnext.{fmt}"
        assert main(["render", str(zoo("convnext.arch")), "-o", str(target)]) == 1
        err = capsys.readouterr().err
        assert "the Graphviz `dot` program is not installed" in err
        assert "hint: install Graphviz" in err and "apt install graphviz" in err
        assert "Traceback" not in err
        assert not target.exists()
    assert sorted(p.name for p in out_dir.iterdir()) == ["convnext.dot"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    """The write is atomic: a failure while rendering leaves the previous file untouched."""
    out = tmp_path / "resnet.svg"
    out.write_text("old")
    dot = archdsl.render(zoo("resnet.arch"), depth=0)

    def broken(*a, **k):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", broken)
    with pytest.raises(archdsl.ArchError, match="not installed"):
        write(dot, out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["resnet.svg"]


def test_depth0_draws_a_layer_definition_as_one_cell():
    """A `layer` written in the file is one cell named as written, not its primitives."""
    text = """\
arch net(classes=10)
input 3x32x32

layer grn(eps=1e-6):
    gamma = param(c, 1, 1)
    n = norm2(x, "hw")
    x + gamma * (x * n / (mean(n, "c") + eps))

stem  conv3(16) grn relu
head  gap fc(classes)
"""
    src = archdsl.render(text, depth=0).source
    stem = next(line for line in src.splitlines() if line.lstrip().startswith("stem ["))
    assert "<i>grn</i>" in stem and "norm2" not in stem and ">param" not in stem and ">mean" not in stem
    assert ">conv3(16)<" in stem and ">relu<" in stem
