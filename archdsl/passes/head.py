"""Pass `adapt_head`: timm's `drop_rate` and `global_pool` as changes to the head's layers.

Run right after lowering, so every later pass (shapes, names, code) sees the new head; a
layer made or changed here carries a `_note` the generated code's comments show
(`dropout(0.2) (drop_rate)`), since its source position is the layer it stands next to:

- `drop_rate=p`: dropout with probability p right before each classifier (timm's
  `head_drop`); where the file already has a dropout there (EfficientNet, MobileNetV3), its
  rate becomes p. A classifier is an `fc` of the head that no other `fc` follows.
- `global_pool`: "avg" / "max" make the head's global pooling `gap` / `gmp`; "token" keeps
  a head that takes the class token (`cls`); "" (no pooling) removes the pooling, so the
  head's later layers see the map (or all tokens): timm allows that without a classifier,
  archdsl where every later `fc` is `fc(0)` (classes=0) or works on tokens.
"""

from __future__ import annotations


from archdsl import ops
from archdsl.errors import ArchError
from archdsl.ir.graph import Graph, Node
from archdsl.ir.shapes import infer_shapes

GLOBAL_POOLS = ("avg", "max", "token", "")
POOL_OPS = {"avg": "gap", "max": "gmp"}


def _head_nodes(g: Graph) -> list[Node]:
    return [n for n in g if n.scope[:1] == ("head",)]


def _head_span(g: Graph):
    group = g.groups.get(("head",))
    return group.span if group is not None else None


def adapt_head(g: Graph, drop_rate: float | None = None, global_pool: str | None = None) -> Graph:
    if drop_rate is None and global_pool is None:
        return g
    head = _head_nodes(g)
    if not head:
        raise ArchError("drop_rate and global_pool change the head, and this network has no `head` line",
                        g.nodes[g.output_id].span, "add a head such as `head gap fc(classes)`")
    if global_pool is not None:
        _set_global_pool(g, head, global_pool)
    if drop_rate is not None:
        _set_drop_rate(g, _head_nodes(g), drop_rate)
    return g


def _set_global_pool(g: Graph, head: list[Node], kind: str) -> None:
    if kind not in GLOBAL_POOLS:
        raise ArchError(f"global_pool must be one of 'avg', 'max', 'token' or '' (no pooling), got {kind!r}", _head_span(g),
                        "timm's other pools (avgmax, catavgmax, map) have no archdsl layer yet")
    pools = [n for n in head if n.op in ("gap", "gmp", "cls")]
    if not pools:
        raise ArchError(f"global_pool={kind!r}: the head has no global pooling (`gap`, `gmp` or `cls`) to change", _head_span(g))
    if len(pools) > 1:
        raise ArchError(f"global_pool={kind!r}: the head pools {len(pools)} times (`{pools[0].token}`, `{pools[1].token}`), "
                        "so which pooling to change is unclear", pools[1].span)
    pool = pools[0]
    if (kind == "token" and pool.op != "cls") or (pool.op == "cls" and kind in POOL_OPS):
        if kind == "token":
            raise ArchError(f"global_pool='token': this head pools with `{pool.token}`, not a class token", pool.span,
                            "use 'avg' or 'max' (or '' for no pooling)")
        raise ArchError(f"global_pool={kind!r}: this head takes the class token (`{pool.token}`); timm's average over "
                        "the patch tokens alone has no archdsl layer, and `gap` would average the class token too",
                        pool.span, "use global_pool='token' or '' (no pooling), or write the pooling in the file")
    if kind in POOL_OPS:
        op = POOL_OPS[kind]
        if pool.op != op:
            pool.op, pool.token = op, op
            pool.attrs = {"_token": f"`{op}`", "_note": f"{op} (global_pool={kind!r})"}
        return
    if kind == "":
        later = g.descendants(pool.id)
        infer_shapes(g, only_missing=True)
        for n in head:
            if n.id in later and n.op == "fc" and n.attrs.get("out") != 0 and len(g.nodes[pool.inputs[0]].shape) == 3:
                raise ArchError(f"global_pool='' (no pooling) leaves `{n.token}` a map to read, and an fc needs a vector",
                                n.span, "with no pooling, build without a classifier: classes=0 (timm: num_classes=0)")
        g.bypass(pool)


def _classifiers(g: Graph, head: list[Node]) -> list[Node]:
    fcs = [n for n in head if n.op == "fc"]
    return [n for n in fcs if not any(m.id in g.descendants(n.id) for m in fcs)]


def _set_drop_rate(g: Graph, head: list[Node], rate: float) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ArchError(f"drop_rate must be a number from 0 up to (not including) 1, got {rate!r}", _head_span(g))
    classifiers = _classifiers(g, head)
    if not classifiers:
        raise ArchError("drop_rate sets the dropout before the classifier, and this head has no `fc`", _head_span(g))
    spec = ops.get("dropout")
    for fc in classifiers:
        src = g.nodes[fc.inputs[0]]
        token = f"dropout({float(rate)})"
        note = f"{token} (drop_rate)"
        if src.op == "dropout" and src.scope == fc.scope:
            src.attrs.update(p=float(rate), _token=f"`{token}`", _note=note)
            src.token = token
            continue
        attrs = {a.name: a.default for a in spec.args} | {"p": float(rate), "_token": f"`{token}`", "_note": note}
        node = Node(g.new_id(), "dropout", attrs, [src.id], fc.span, fc.scope, token, sub=fc.sub, block_index=fc.block_index)
        g.add(node, before=fc.id)
        g.set_inputs(fc, [node.id if i == src.id else i for i in fc.inputs])
