"""`archdsl.to_source` / `archdsl compile -o`: the generated PyTorch file is the code
`archdsl.build` runs (the same text), imports only torch, is ruff-clean, byte-stable,
golden-tested, and cannot run code the user did not write."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl.backends.codegen import runtime
from archdsl.backends.codegen.names import NN_MODULE_ATTRIBUTES
from archdsl.cli import main, zoo_files
from archdsl.fileio import write_atomic
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"


def _smallest_variant(path: Path) -> str | None:
    program = archdsl.parse(path)
    return min(program.variant_names or [None], key=lambda v: archdsl.summary(program, v)["params"])


# Every zoo file and variant is written (coat's `shared` layers, vitdet's relative-position
# attention and `outputs:`, nasnet's two-input cells and TF "SAME" padding included). Side
# outputs (`aux:`, training-mode auxiliary classifiers) are tested in both modes below.
AUX_CASES = [("googlenet.arch", "googlenet_aux"), ("inception_v3.arch", "inception_v3_aux")]

# Every other zoo file's smallest variant, plus the variants with golden files.
EXTRA = [("resnet.arch", "resnet50"), ("convnext.arch", "tiny"), ("deit.arch", "tiny_distilled"), *AUX_CASES]
CASES = sorted({(f.name, _smallest_variant(f)) for f in zoo_files()} | set(EXTRA),
               key=lambda c: (c[0], str(c[1])))
GOLDEN_CASES = [("convnext.arch", "tiny", "convnext_tiny.py"), ("resnet.arch", "resnet50", "resnet50.py"),
                ("vit.arch", "tiny", "vit_tiny.py")]
ALLOWED_IMPORTS = {"torch", "torch.nn.functional", "math", "torch.nn"}


def source_of(file: str, variant: str | None) -> str:
    """Generated from the path as a user would type it in the repository root."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return archdsl.to_source(f"zoo/{file}", variant)
    finally:
        os.chdir(cwd)


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def network_class(mod, source: str):
    """The generated file's last class is the network."""
    tree = ast.parse(source)
    name = [n.name for n in tree.body if isinstance(n, ast.ClassDef)][-1]
    return getattr(mod, name)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("generated")
    for file, variant in CASES:
        text = source_of(file, variant)
        path = d / f"{Path(file).stem}_{variant}.py"
        path.write_text(text)
        out[(file, variant)] = (text, path)
    return out


SMALL_INPUT = 32  # equality does not need full resolution; float64 convs are slow on CPU


def _small_input(file: str, variant: str | None) -> tuple[int, ...] | None:
    shape = archdsl.summary(ROOT / "zoo" / file, variant)["input_shape"][1:]
    if len(shape) != 3 or shape[1] <= SMALL_INPUT:
        return None
    small = (shape[0], SMALL_INPUT, SMALL_INPUT)
    try:
        archdsl.summary(ROOT / "zoo" / file, variant, input_shape=small)
    except archdsl.ArchError:  # the architecture needs its own resolution
        return None
    return small


def built_source(model: torch.nn.Module) -> str:
    """The text of the module a built network's class was executed from."""
    return inspect.getsource(sys.modules[type(model).__module__])


@pytest.mark.parametrize("file,variant", CASES, ids=[f"{f}:{v}" for f, v in CASES])
def test_build_runs_the_generated_source(file, variant, generated):
    """`archdsl.build` and `compile -o` are the same code: the built network's class comes from
    exactly the text `to_source` writes, and a file written from it loads the built weights."""
    text, path = generated[(file, variant)]
    cwd = os.getcwd()
    os.chdir(ROOT)  # the path as `source_of` gives it: it is named in the file's docstring
    try:
        with torch.device("meta"):
            built = archdsl.build(f"zoo/{file}", variant)
    finally:
        os.chdir(cwd)
    assert built_source(built) == text
    with torch.device("meta"):
        ours = network_class(load_module(path), text)()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [(k, tuple(v.shape)) for k, v in built.state_dict().items()]


# Layers no zoo file's smallest variant uses, built (through their generated source) and run.
PROBE = """arch probe(classes=10)
input 3x32x32
stem conv3(16) samepad3/2(value=0.5) maxpool3/2(p=0) apool4 tokens cls_token dist_token pos_sincos(skip=2)
stage [ln mhsa(2)] x1
head scale(2, skip=1) ln cls(1) fc(classes)
"""


def test_rare_layers_build_from_their_source():
    text = archdsl.to_source(PROBE)
    assert "SinCosPosEmbed(" in text and "nn.AdaptiveAvgPool2d(" in text and "value=0.5" in text
    model = archdsl.build(PROBE).eval()
    assert built_source(model) == text
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("file,variant", AUX_CASES, ids=[v for _, v in AUX_CASES])
def test_side_outputs_in_training_mode(file, variant):
    """`aux:` side outputs: in training mode the network returns (output, *side outputs); in
    eval mode only the output, the side branches not run."""
    small = _small_input(file, variant)
    built = archdsl.build(ROOT / "zoo" / file, variant, input_shape=small).double()
    x = torch.randn(2, *built.arch_info["input_shape"], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = built.train()(x)
    assert isinstance(out, tuple) and len(out) == {"googlenet_aux": 3, "inception_v3_aux": 2}[variant]
    with torch.no_grad():
        assert isinstance(built.eval()(x), torch.Tensor)


@pytest.mark.parametrize("file,variant", CASES, ids=[f"{f}:{v}" for f, v in CASES])
def test_generated_source_is_ruff_clean(file, variant, generated):
    _, path = generated[(file, variant)]
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    # --isolated: ruff's own defaults, not this repository's settings
    check = subprocess.run(check=False, args=[ruff, "check", "--isolated", "--no-cache", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(check=False, args=[ruff, "format", "--isolated", "--no-cache", "--check", "--diff", str(path)],
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("file,variant", CASES, ids=[f"{f}:{v}" for f, v in CASES])
def test_generated_source_is_safe(file, variant, generated):
    assert_safe(generated[(file, variant)][0])


RUNNER = """
import runpy, sys
for name in ('archdsl', 'timm', 'torchvision', 'lark'):  # only torch (and its own dependencies) here
    sys.modules[name] = None
import torch
for path, cls, shape in %s:
    with torch.device("meta"):
        net = runpy.run_path(path)[cls]()
    out = shape and tuple(net.eval()(torch.randn(1, *shape, device="meta")).shape)
    print(path, sum(p.numel() for p in net.parameters()), out)
"""


def run_in_fresh_interpreter(jobs: list[tuple[str, str, tuple | None]], cwd: Path) -> list[str]:
    """Run generated files in a child interpreter where only torch can be imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(check=False, args=[sys.executable, "-c", RUNNER % repr(jobs)], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_every_generated_file_imports_with_only_torch(generated, tmp_path):
    jobs = [(str(path), network_class_name(text), None) for text, path in generated.values()]
    lines = run_in_fresh_interpreter(jobs, tmp_path)
    for (file, variant), line in zip(generated, lines):
        assert int(line.split()[1]) == archdsl.summary(ROOT / "zoo" / file, variant)["params"], line


def network_class_name(source: str) -> str:
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)][-1]


COMPILE_CASES = [("resnet.arch", "resnet18"), ("convnext.arch", "tiny"), ("vit.arch", "tiny"), ("swin.arch", "tiny"),
                 ("shufflenet_v2.arch", "x0_5"), ("efficientnet.arch", "b0"), ("coat.arch", "lite_tiny"),
                 ("vitdet.arch", "base"), ("nasnet.arch", "nasnet_a_large"), ("googlenet.arch", "googlenet_aux")]


@pytest.mark.parametrize("file,variant", COMPILE_CASES, ids=[f"{f}:{v}" for f, v in COMPILE_CASES])
def test_torch_compile_fullgraph(file, variant, tmp_path):
    """The generated module compiles as one graph (no graph breaks) and gives the same output."""
    small = _small_input(file, variant)
    text = archdsl.to_source(ROOT / "zoo" / file, variant, input_shape=small)
    path = tmp_path / "model.py"
    path.write_text(text)
    torch.manual_seed(0)
    net = network_class(load_module(path), text)().eval()
    shape = small or archdsl.summary(ROOT / "zoo" / file, variant)["input_shape"][1:]
    x = torch.randn(1, *shape)
    compiled = torch.compile(net, fullgraph=True, backend="eager")
    with torch.no_grad():
        a, b = compiled(x), net(x)
    pairs = list(zip(a, b, strict=True)) if isinstance(b, tuple) else [(a, b)]  # `outputs:`: a tuple of maps
    assert all(torch.allclose(ya, yb, rtol=1e-4, atol=1e-5) for ya, yb in pairs)


@pytest.mark.parametrize("file,variant,golden", GOLDEN_CASES, ids=[g for _, _, g in GOLDEN_CASES])
def test_golden(file, variant, golden):
    text = source_of(file, variant)
    path = GOLDEN / golden
    if os.environ.get("ARCHDSL_ACCEPT"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"generated source changed; rerun with ARCHDSL_ACCEPT=1 and read the diff of {path}"


BYTE_CASES = [("convnext.arch", "tiny"), ("coat.arch", "lite_tiny"), ("vitdet.arch", "base"), ("nasnet.arch", "nasnet_a_large")]


def test_byte_identical_across_runs_and_hash_seeds():
    code = f"import archdsl, sys\nfor f, v in {BYTE_CASES!r}:\n    sys.stdout.write(archdsl.to_source('zoo/' + f, v) + '\\0')"
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(check=False, args=[sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    texts = r.stdout.split("\0")[:-1]
    assert len(texts) == len(BYTE_CASES)
    for (f, v), text in zip(BYTE_CASES, texts, strict=True):
        assert text == source_of(f, v) == source_of(f, v), f


def test_readable_shape(generated):
    text, _ = generated[("resnet.arch", "resnet50")]
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert "Bottleneck" in classes and classes[-1] == "Resnet"
    assert "zoo/resnet.arch" in text.split('"""')[1] and "resnet50" in text.split('"""')[1]
    assert "for _ in range(5)" in text  # stage 3's six blocks: one, then a loop, not six copies
    assert text.count("Bottleneck(") <= 2 * 4 + 1
    for line in text.splitlines():  # every layer constructor line carries a source map
        if line.strip().startswith("self.") and "= nn." in line and not any(w in line for w in ("Sequential()", "Identity()", "ModuleList")):
            assert re.search(r"# zoo/(blocks/)?resnet.arch:\d+:\d+", line), line


SOURCE_MAP_CASES = [("coat.arch", "lite_tiny"), ("vitdet.arch", "base"), ("nasnet.arch", "nasnet_a_large"),
                    ("googlenet.arch", "googlenet_aux")]


@pytest.mark.parametrize("file,variant", SOURCE_MAP_CASES, ids=[f"{f}:{v}" for f, v in SOURCE_MAP_CASES])
def test_every_generated_layer_has_a_source_map(file, variant, generated):
    """In the generated classes (not the copied helpers), every layer made in `__init__`
    (`self.x = ...`, a stage's `shared.x = ...`) names the DSL text that made it."""
    text, _ = generated[(file, variant)]
    helpers = set(runtime.definitions())
    lines = text.splitlines()
    checked = 0
    for cls in ast.parse(text).body:
        if not isinstance(cls, ast.ClassDef) or cls.name in helpers:
            continue
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
                continue
            target = ast.unparse(node.targets[0])
            call = ast.unparse(node.value)
            if not target.startswith(("self.", "shared.")) or call in ("nn.Sequential()", "nn.Identity()", "nn.Module()", "nn.ModuleList()") \
                    or target == "self.feature_info":  # data (the feature levels), not a layer
                continue
            assert re.search(rf"# zoo/{re.escape(file)}:\d+:\d+", lines[node.lineno - 1]), lines[node.lineno - 1]
            checked += 1
    assert checked > 10


# ---- safety -------------------------------------------------------------------------
SAFE_BUILTINS = {"super", "range", "len", "list", "dict", "int", "float", "bool", "str", "tuple", "isinstance", "object", "None", "True", "False",
                 "slice", "any", "max", "min", "zip", "enumerate", "property", "AttributeError", "ValueError"}
FORBIDDEN = {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr", "globals", "locals",
             "vars", "os", "sys", "subprocess", "builtins", "__builtins__", "input", "breakpoint", "importlib", "runpy"}


def _runtime_strings() -> set[str]:
    """The string constants of the runtime library (our own code: buffer names, messages,
    `indexing="ij"`, ...); the generated code's own strings are a few pooling kinds and the
    `pretrained_cfg` keys."""
    out = set()
    for path in runtime.RUNTIME_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return out


CFG_STRINGS = {"architecture", "input_size", "num_classes", "mean", "std", "crop_pct", "interpolation", "bicubic"}
SAFE_STRINGS = {"avg", "max", "none", "tanh"} | CFG_STRINGS | _runtime_strings()


def assert_safe(source: str) -> None:
    """The file only imports torch/math, only uses names it defines (or a few harmless
    builtins), touches no dunder attribute and holds no string the compiler did not write."""
    tree = ast.parse(source)
    defined = set(SAFE_BUILTINS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                assert a.name in ALLOWED_IMPORTS, a.name
                defined.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            assert node.module in ALLOWED_IMPORTS and node.level == 0, node.module
            defined |= {a.asname or a.name for a in node.names}
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node, clean=False) is not None:
            docstrings.add(id(node.body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id not in FORBIDDEN, node.id
            assert node.id in defined, f"undefined name {node.id}"
        elif isinstance(node, ast.Attribute):
            is_super_init = node.attr == "__init__" and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "super"
            assert is_super_init or not node.attr.startswith("__"), node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            assert node.value in SAFE_STRINGS or _architecture_name(tree, node), node.value
        elif isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.Delete, ast.AsyncFunctionDef, ast.Await)):
            raise AssertionError(f"unexpected {type(node).__name__}")


MODULE_PATH = r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*"


def _architecture_name(tree: ast.AST, const: ast.Constant) -> bool:
    """The `pretrained_cfg["architecture"]` value (the arch and variant names), the
    `classifier_name` and the module paths of `feature_info` / `feature_norm`: identifiers
    the compiler checked."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and node.value is const and ast.unparse(node.targets[0]) == "self.classifier_name":
            return re.fullmatch(MODULE_PATH, const.value) is not None
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) in ("self.feature_info", "self.feature_norm") \
                and any(c is const for c in ast.walk(node.value)):
            return re.fullmatch(MODULE_PATH, const.value) is not None
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if v is const and isinstance(k, ast.Constant) and k.value == "architecture":
                    return re.fullmatch(r"[A-Za-z0-9_.\-]+", const.value) is not None
    return False


PAYLOAD = "__import__('pathlib').Path('PWNED').touch()"
HOSTILE_NAMES = ["class", "import", "__import__", "None", "True", "self", "x", "exec", "eval", "forward", "training",
                 "nn", "torch", "F", "math", "Stage", "lambda", "_", "__init__", "super", "k", "blocks", "shortcut",
                 "match", "type", "__class__", "_private", "Mlp", "DropPath"]
HOSTILE_FILES = ['evil"""\nimport os\n.arch', "a\nimport os; os.system('touch PWNED') #.arch", "ünïcødé ✓.arch",
                 "x'y\\z\r.arch", "tab\there.arch", '";__import__("os")#.arch']


def hostile_programs():
    for n in HOSTILE_NAMES:
        yield f"block_{n}", (f"arch {n}(tag=\"''' ; {PAYLOAD} # \", classes=10)\ninput 3x16x16\n"
                             f"block {n}({n}, s):\n    residual: conv3/s({n}) bn relu\n    relu\n"
                             f"stem conv3(8) bn relu\nstage {n} x[1,2] {n}=[8,16]\nhead gap fc(classes)\n"
                             f"variant {n} classes=10\n"), "net.arch"
        yield f"nested_{n}", (f"arch net(classes=10)\ninput 3x16x16\nblock {n}(c):\n    conv1(c) relu\n"
                              f"block outer(c):\n    {n}(c) {n}(c)\nstem conv3(8) outer(8)\nhead gap fc(classes)\n"), "net.arch"
    for f in HOSTILE_FILES:
        yield f"file_{f!r}", "arch net(classes=10)\ninput 3x16x16\nstem conv3(8) relu\nhead gap fc(classes)\n", f


HOSTILE = list(hostile_programs())


def _hostile_source(text: str, filename: str, tmp: Path) -> tuple[str | None, Path]:
    path = tmp / filename
    path.write_text(text)
    out = tmp / "model.py"
    try:
        return archdsl.to_source(path, output=out), out
    except archdsl.ArchError as e:
        assert e.span is not None, "a rejected name must be located"
        assert not out.exists()
        return None, out


@pytest.mark.parametrize("name,text,filename", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_names_are_rejected_or_harmless(name, text, filename, tmp_path):
    source, out = _hostile_source(text, filename, tmp_path)
    if source is not None:
        assert out.read_text() == source
        assert_safe(source)
        compile(source, str(out), "exec")


def test_hostile_generated_files_run_without_side_effects(tmp_path):
    jobs = []
    for k, (_, text, filename) in enumerate(HOSTILE):
        d = tmp_path / str(k)
        d.mkdir()
        source, out = _hostile_source(text, filename, d)
        if source is not None:
            jobs.append((str(out), network_class_name(source), (3, 16, 16)))
    assert len(jobs) >= len(HOSTILE) // 2  # most of the corpus compiles (mangled): the check is not vacuous
    lines = run_in_fresh_interpreter(jobs, tmp_path)
    assert len(lines) == len(jobs) and all(line.endswith("(1, 10)") for line in lines), lines
    assert not list(tmp_path.rglob("PWNED"))


def test_dunder_module_name_is_a_located_error():
    text = "arch net(classes=10)\ninput 3x16x16\nblock __x(c):\n    conv1(c)\nstem conv3(8) __x(8)\nhead gap fc(classes)\n"
    for make in (archdsl.build, archdsl.to_source):  # Python source cannot name `self.__x1`
        with pytest.raises(archdsl.ArchError) as e:
            make(text)
        assert e.value.span is not None and e.value.span.line == 5


# ---- atomic writes and the CLI --------------------------------------------------------
def test_cli_writes_the_same_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "model.py"
    monkeypatch.chdir(ROOT)
    assert main(["compile", "zoo/resnet.arch", "--variant", "resnet18", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("{")  # --json still prints only JSON on stdout
    assert out.read_text() == archdsl.to_source("zoo/resnet.arch", "resnet18")


def test_failed_compile_keeps_the_old_file(tmp_path, capsys):
    out = tmp_path / "model.py"
    out.write_text("# precious\n")
    bad = tmp_path / "bad.arch"
    bad.write_text("arch net()\ninput 3x16x16\nstem conv3(8) nosuchlayer\n")
    assert main(["compile", str(bad), "-o", str(out)]) == 1
    assert out.read_text() == "# precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arch", "model.py"]
    assert main(["compile", str(bad), "-o", str(tmp_path / "new.py")]) == 1
    assert not (tmp_path / "new.py").exists()


def test_write_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "model.py"
    out.write_text("old\n")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(out, "new\n" * 1000)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


# ---- runtime errors in built models name the DSL line ----------------------------------
def test_runtime_error_names_the_dsl_layer():
    """The traceback of an error in a built network shows the generated line, whose comment
    names the DSL text of the layer (the generated source is registered with linecache)."""
    model = archdsl.build(ROOT / "zoo" / "resnet.arch", "resnet18").eval()
    with pytest.raises(RuntimeError) as e:
        model(torch.randn(1, 4, 32, 32))  # 4 channels into a 3-channel stem
    text = "".join(traceback.format_exception(e.value))
    assert "x = self.stem.conv(x)  # conv7/2(64) -> 64x112x112" in text


def test_runtime_error_inside_a_block_names_the_block_layer():
    text = "arch net(classes=10)\ninput 3x16x16\nblock b(c):\n    conv3(c) relu\nstem conv3(8) b(4)\nhead gap fc(classes)\n"
    model = archdsl.build(text).eval()
    model.stem.b1.conv.weight.data = torch.zeros(4, 5, 3, 3)  # a broken layer inside the block
    with pytest.raises(RuntimeError) as e:
        model(torch.randn(1, 3, 16, 16))
    assert "x = self.conv(x)  # conv3(c) -> (c, 16, 16)" in "".join(traceback.format_exception(e.value))


def test_unwritable_output_is_a_user_error(tmp_path, capsys):
    out = tmp_path / "no_such_dir" / "model.py"
    assert main(["compile", str(ROOT / "zoo" / "resnet.arch"), "-o", str(out)]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert not out.parent.exists()


def test_shared_layer_outside_stage_blocks_is_a_located_error():
    """`shared` layers are written for stage blocks only; a use in the stem fails at its text."""
    text = "arch net(classes=10)\ninput 3x16x16\nshared sc = conv3(8)\nstem conv3(8) sc relu sc\nhead gap fc(classes)\n"
    for make in (archdsl.build, archdsl.to_source):
        with pytest.raises(archdsl.ArchError) as e:
            make(text)
        assert "cannot write this network as PyTorch source" in str(e.value)
        assert e.value.span is not None and (e.value.span.line, e.value.span.column) == (4, 15)


def test_runtime_definitions_resolve():
    """Every runtime class and function the code generator copies names only definitions that
    exist (it is copied with them), and every op's constructor names torch or the runtime."""
    defs = runtime.definitions()
    for d in defs.values():
        assert all(n in defs for n in d.needs), d.name
        compile(d.source, d.name, "exec")
    assert {"LayerNorm2d", "Mlp", "Stage", "Network", "init_kaiming", "round8"} <= set(defs)


def test_nn_module_attribute_list_is_current():
    current = {n for n in set(dir(torch.nn.Module)) | set(vars(torch.nn.Module())) if not n.startswith("__")}
    assert current <= NN_MODULE_ATTRIBUTES, sorted(current - NN_MODULE_ATTRIBUTES)


@pytest.mark.slow
def test_every_variant_generates_ruff_clean_source(tmp_path):
    """Not only the smallest variants: every variant of every zoo file is written, and ruff finds nothing to check or reformat in any of them."""
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    count = 0
    for f in zoo_files():
        for v in archdsl.parse(f).variant_names or [None]:
            (tmp_path / f"{f.stem}_{v}.py").write_text(source_of(f.name, v))
            count += 1
    assert count > len(CASES)
    for args in (["check"], ["format", "--check", "--diff"]):
        r = subprocess.run(check=False, args=[ruff, *args, "--isolated", "--no-cache", str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def _calls(module: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    """How often each submodule of `module` runs in one forward (module path -> calls)."""
    counts: dict[str, int] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, counts.get(name, 0) + 1))
             for name, m in module.named_modules() if name]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    return counts


def test_a_block_shares_one_module_per_activation_constructor():
    # torchvision's Bottleneck: one `relu`, called three times; timm's and ours alike have no
    # parameters there, so only the module tree and dynamo's work change, not the weights
    net = archdsl.build("zoo/resnet.arch", "resnet50")
    block = net.stages[0].blocks[1]
    assert [n for n, m in block.named_children() if isinstance(m, torch.nn.ReLU)] == ["relu"]
    assert _calls(block, torch.randn(1, 256, 8, 8))["relu"] == 3
    # the stem is an nn.Sequential, which runs each child once: its activations stay apart
    text = ("arch t()\ninput 3x16x16\nstem conv3(8) relu conv3(8) relu\n"
            "block b():\n    conv3 relu conv3 relu\nstage b() x[1]\nhead gap fc(4)\n")
    model = archdsl.build(text)
    assert [n for n, _ in model.stem.named_children()] == ["conv1", "relu1", "conv2", "relu2"]
    assert [n for n, m in model.stages[0].blocks[0].named_children() if isinstance(m, torch.nn.ReLU)] == ["relu"]


def test_activations_built_differently_are_not_shared():
    # `gelu` and `gelu_tanh` are different modules; an in-place ReLU after a conv and one whose
    # input is read again are different constructor calls, so they stay two modules
    text = ("arch t()\ninput 8x8x8\n"
            "block b():\n    residual: conv3 gelu conv3 gelu_tanh conv3 gelu\nstage b() x[1]\nhead gap fc(4)\n")
    block = archdsl.build(text).stages[0].blocks[0]
    kinds = {n: (type(m).__name__, getattr(m, "approximate", None)) for n, m in block.named_children()
             if isinstance(m, torch.nn.GELU)}
    assert sorted(kinds.values()) == [("GELU", "none"), ("GELU", "tanh")]
    assert _calls(block, torch.randn(1, 8, 8, 8))[next(n for n, k in kinds.items() if k[1] == "none")] == 2


def test_an_absent_optional_layer_is_none_and_skipped():
    # the first block of a resnet stage has a projection shortcut, the others none: the class
    # writes `self.shortcut = None` and skips it, as torchvision's `downsample`
    net = archdsl.build("zoo/resnet.arch", "resnet50")
    assert isinstance(net.stages[0].blocks[0].shortcut, torch.nn.Sequential)
    assert net.stages[0].blocks[1].shortcut is None
    source = archdsl.to_source(ROOT / "zoo" / "resnet.arch", "resnet50")
    assert "        self.shortcut = None\n        if shortcut:\n" in source
    assert "        if self.shortcut is not None:\n            shortcut = self.shortcut(shortcut)" in source
