"""`use "PATH"`: block libraries, resolved relative to the file, then in the zoo."""

from __future__ import annotations

import pytest

import archdsl
from archdsl.errors import ArchError


def test_zoo_library_is_found_from_any_directory(tmp_arch):
    path = tmp_arch('arch net(block=basic)\nuse "blocks/resnet.arch"\ninput 3x32x32\n'
                    "stem conv3(16) bn relu\nstage block x[1,1] c=[16,32]\nhead gap fc(10)\n")
    assert set(archdsl.parse(path).blocks) >= {"basic", "bottleneck"}
    assert archdsl.summary(path)["output_shape"] == [1, 10]


def test_libraries_use_libraries_and_diamonds_merge(tmp_arch, tmp_path):
    (tmp_path / "lib").mkdir()
    tmp_arch("block inner(c):\n    conv1(c)\n", "lib/inner.arch")
    tmp_arch('use "inner.arch"\nblock outer(c):\n    inner(c) relu\n', "lib/outer.arch")
    path = tmp_arch('arch net()\nuse "lib/outer.arch"\nuse "lib/inner.arch"\ninput 3x8x8\nstem outer(4)\n')
    program = archdsl.parse(path)
    assert set(program.blocks) == {"inner", "outer"}  # the diamond import is one definition
    assert archdsl.summary(path)["params"] == 3 * 4 + 4


def test_imported_block_error_points_into_the_library(tmp_arch, tmp_path):
    (tmp_path / "lib").mkdir()
    tmp_arch("block bad(c):\n    conv3(c) bn rleu\n", "lib/bad.arch")
    path = tmp_arch('arch net()\nuse "lib/bad.arch"\ninput 3x8x8\nstem bad(4)\n')
    with pytest.raises(ArchError) as e:
        archdsl.summary(path)
    assert e.value.span.file.endswith("lib/bad.arch") and e.value.span.line == 2


@pytest.mark.parametrize("text,message", [
    ('use "/etc/passwd.arch"', "relative, not absolute"),
    ('use "blocks/resnet"', "needs an .arch file"),
    ('use ""', "empty `use` path"),
    ('use "../../../../../x.arch"', "leaves the directory"),
])
def test_bad_paths(tmp_arch, text, message):
    path = tmp_arch(f"arch net()\n{text}\ninput 3x8x8\nstem conv1(4)\n")
    with pytest.raises(ArchError, match=message):
        archdsl.parse(path)


def test_self_import_is_a_cycle(tmp_arch):
    path = tmp_arch('arch net()\nuse "net.arch"\ninput 3x8x8\nstem conv1(4)\n')
    with pytest.raises(ArchError, match="import cycle"):
        archdsl.parse(path)


def test_a_library_is_parsed_once_per_text(tmp_arch, tmp_path):
    (tmp_path / "lib").mkdir()
    lib = tmp_arch("block inner(c):\n    conv1(c)\n", "lib/inner.arch")
    path = tmp_arch('arch net()\nuse "lib/inner.arch"\ninput 3x8x8\nstem inner(4)\n')
    first, second = archdsl.parse(path), archdsl.parse(path)
    assert first is not second and first.blocks["inner"] is second.blocks["inner"]  # the library's parse is reused
    lib.write_text("block inner(c):\n    conv1(c) relu\n")  # an edit is seen on the next parse
    edited = archdsl.parse(path)
    assert edited.blocks["inner"] is not first.blocks["inner"]
    assert [layer.word for layer in edited.blocks["inner"].body[0].items] == ["conv1", "relu"]
    assert archdsl.summary(path)["params"] == 3 * 4 + 4
