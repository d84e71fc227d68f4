"""Names and text in generated code: escaping, identifiers, class names.

Module attribute names are state-dict keys, so they are used verbatim or refused with a
located error; constructor argument and class names are mangled where unsafe. Comments
and docstrings hold printable ASCII only (everything else escaped), so no `.arch` text can
end a comment or a string.
"""

from __future__ import annotations

import builtins
import keyword
import re

from archdsl.errors import ArchError, Span

# every attribute of torch.nn.Module (dir() and a fresh instance's __dict__), without dunders:
# a submodule cannot take one of these names (tests/backends/test_codegen.py keeps the list current)
NN_MODULE_ATTRIBUTES = frozenset({
    "T_destination", "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl",
    "_compiled_call_impl", "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks",
    "_get_name", "_is_full_backward_hook", "_load_from_state_dict", "_load_state_dict_post_hooks",
    "_load_state_dict_pre_hooks", "_maybe_warn_non_full_backward_hook", "_modules", "_named_members",
    "_non_persistent_buffers_set", "_parameters", "_register_load_state_dict_pre_hook", "_register_state_dict_hook",
    "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_version", "_wrapped_call_impl", "add_module", "apply", "bfloat16", "buffers",
    "call_super_init", "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float",
    "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict",
    "to", "to_empty", "train", "training", "type", "xpu", "zero_grad",
})

# names generated code defines or reads itself; user names are mangled around them
RESERVED = {"self", "x", "nn", "torch", "math", "F", "super", "blocks", "down", "stage", "block", "k", "_", "prev", "shared",
            "keep_prev", "range", "list", "int", "float", "bool", "None", "True", "False"} | set(dir(builtins))

SAFE_CHARS = set(map(chr, range(0x20, 0x7F))) - {"\\", '"'}


def escape(text: str, limit: int | None = None) -> str:
    """Printable ASCII kept; anything else (quotes, backslashes, newlines, non-ASCII) as
    `\\xNN` / `\\uNNNN`, so the text cannot end a comment or a string it is put in."""
    out = []
    for ch in text:
        if ch in SAFE_CHARS:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    s = "".join(out).rstrip()
    if limit is not None and len(s) > limit:
        s = s[: limit - 3].rstrip("\\") + "..."
    return s


def is_plain_identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and not keyword.issoftkeyword(name)


def attr_name(name: str, span: Span | None) -> str:
    """A module attribute name must be used verbatim (it is a state-dict key), so a name
    Python would mangle or reject is an error at the DSL text that made it."""
    if not is_plain_identifier(name) or name.startswith("__") or name in NN_MODULE_ATTRIBUTES:
        hint = (f"every nn.Module has an attribute `{name}`; rename the block, layer or value that names it"
                if name in NN_MODULE_ATTRIBUTES else
                "rename the block: names starting with `__` and Python keywords are not allowed here")
        raise ArchError(f"`{escape(name, 40)}` cannot be a module attribute in generated Python", span, hint)
    return name


def arg_name(name: str, taken: set[str], reserved: set[str] = RESERVED) -> str:
    """A constructor argument name: user parameter names are mangled when unsafe."""
    base = name if is_plain_identifier(name) and not name.startswith("_") and name not in reserved else "p_" + re.sub(r"\W", "_", name.strip("_") or "arg")
    out, n = base, 2
    while out in taken or not is_plain_identifier(out):
        out, n = f"{base}_{n}", n + 1
    taken.add(out)
    return out


def class_name(name: str, taken: set[str], reserved: set[str] = RESERVED) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    base = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    if base[0].isdigit():
        base = "Block" + base
    if keyword.iskeyword(base) or base in reserved:
        base += "Block"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}{n}", n + 1
    taken.add(out)
    return out
