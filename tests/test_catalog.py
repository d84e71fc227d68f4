"""The zoo by name (issue 20): `archdsl.list_models`, `archdsl.build("convnext_tiny")`, the
CLI's `archdsl compile convnext -v tiny`, and finding the zoo in an installed package."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import archdsl
from archdsl import catalog, source
from archdsl.cli import main
from tests.conftest import ZOO


def test_list_models_is_fnmatch_over_file_and_variant_names():
    assert archdsl.list_models("convnext_[!v]*") == ["convnext_base", "convnext_large", "convnext_small", "convnext_tiny",
                                                      "convnext_xlarge"]
    assert archdsl.list_models("convnext*")[:5] == ["convnext_base", "convnext_large", "convnext_small", "convnext_tiny",
                                                    "convnext_v2_atto"]  # convnext_v2.arch's too
    assert archdsl.list_models("resmlp_*") == ["resmlp_12", "resmlp_24", "resmlp_36", "resmlp_big_24"]  # `variant 12`
    assert archdsl.list_models("resnet?0") == ["resnet50"]
    assert "resnetv2_50" in archdsl.list_models()  # resnet_v2.arch's resnetv2_50: the family is not said twice
    assert "alexnet" in archdsl.list_models()  # a file whose variant is its stem
    assert archdsl.list_models("no_such*") == []


def test_every_listed_name_is_unique_and_resolves_to_its_file_and_variant():
    names = archdsl.list_models()
    count = sum(len(archdsl.parse(f).variant_names) or 1 for f in catalog.zoo_files())
    assert len(names) == count  # one name per variant, no two alike
    for name in names:
        path, variant = catalog.resolve(name)
        assert path.parent == ZOO
        assert catalog.model_name(path.stem, variant) == name


def test_build_by_joined_name_is_the_file_and_variant():
    assert archdsl.summary("convnext_tiny") == archdsl.summary(ZOO / "convnext.arch", "tiny")
    assert archdsl.summary("resnet50")["params"] == 25_557_032
    assert archdsl.summary("resnet", variant="resnet18")["params"] == 11_689_512
    g = archdsl.compile_graph("convnext_small")
    assert (g.name, g.variant) == ("convnext", "small")


def test_unknown_name_is_a_located_error_with_a_suggestion():
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.build("convnxt_tiny")
    assert str(e.value).startswith("convnxt_tiny:1:1: error: no file or zoo model named `convnxt_tiny`")
    assert "did you mean `convnext_tiny`" in str(e.value)


def test_a_name_next_to_a_file_of_that_name_points_at_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynet.arch").write_text("arch mynet()\ninput 3x8x8\nstem conv3(4)\n")
    with pytest.raises(archdsl.ArchError, match="did you mean the file `mynet.arch`"):
        archdsl.compile_graph("mynet")
    assert archdsl.compile_graph("mynet.arch").name == "mynet"


def test_cli_takes_zoo_names_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "convnext", "-v", "tiny"]) == 0
    assert capsys.readouterr().out.startswith("convnext (tiny)")
    assert main(["render", "resnet", "-o", "r.dot"]) == 0
    expected = ["r.dot"]
    if _has_dot():
        assert main(["render", "resnet18"]) == 0  # default output: NAME.svg here, never into the zoo
        expected.append("resnet18.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    assert main(["diff", "resnet18", "resnet34"]) == 0
    assert "stage0" in capsys.readouterr().out


def _has_dot() -> bool:
    import shutil

    return shutil.which("dot") is not None


def test_installed_zoo_from_a_zipped_package(tmp_path, monkeypatch):
    """A Traversable that is not a directory on disk (a zipped install) is copied out once."""
    zpath = tmp_path / "site.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in [*ZOO.glob("*.arch"), *ZOO.glob("blocks/*.arch")]:
            z.write(f, f"archdsl/zoo/{f.relative_to(ZOO)}")
    monkeypatch.setattr(source.resources, "files", lambda package: zipfile.Path(zpath, "archdsl/zoo/"))
    source._installed_zoo.cache_clear()
    try:
        tree = source._installed_zoo()
        assert isinstance(tree, Path) and (tree / "convnext.arch").read_text() == (ZOO / "convnext.arch").read_text()
        assert (tree / "blocks" / "resnet.arch").is_file()
    finally:
        source._installed_zoo.cache_clear()


def test_a_variant_named_by_a_number(tmp_path):
    """`variant 0` (CoAtNet-0): named by the CLI's `-v 0`, the API's "0" or 0."""
    p = tmp_path / "net.arch"
    p.write_text("arch net(w=8)\ninput 3x8x8\nstem conv3(w)\nhead gap fc(3)\nvariant 0  w=8\nvariant 12  w=12\n")
    assert archdsl.parse(p).variant_names == ["0", "12"]
    assert archdsl.summary(p, "12") == archdsl.summary(p, 12)
    assert archdsl.build(p, 0).stem.conv.out_channels == 8
    assert main(["compile", str(p), "-v", "12"]) == 0
    with pytest.raises(archdsl.ArchError, match="unknown variant `1`"):
        archdsl.summary(p, 1)
