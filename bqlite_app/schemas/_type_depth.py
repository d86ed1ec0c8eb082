"""A cap on how deeply message types chain, checked once when a schema is compiled.

The fingerprint and the compatibility rules walk message types recursively, through fields and nested declarations,
visiting each type once. A .proto with 1,500 messages each holding the next made that walk exceed Python's recursion
limit (a 500). Rather than rewrite every walker iteratively, a schema is refused up front when some walk *could* go
deeper than ``MAX_TYPE_DEPTH``: any such walk follows a simple path of the type graph, and a simple path is no longer
than the longest path of the graph's strongly connected components weighted by their sizes, which is what is
measured here (iteratively, so the check itself cannot overflow).
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.descriptor import Descriptor

from bqlite_app.errors import SchemaParseFailed

# Real schemas chain a handful of types; the recursive walkers use up to ~4 Python frames per level, so this stays
# far below the default limit of 1,000 frames.
MAX_TYPE_DEPTH = 100


def check_type_depth(roots: Iterable[Descriptor], *, limit: int = MAX_TYPE_DEPTH) -> None:
    """Raise ``SchemaParseFailed`` when a walk from ``roots`` through message types could pass ``limit`` levels."""
    depth, start = longest_type_chain(roots)
    if depth > limit:
        raise SchemaParseFailed(
            f"Message types nest too deeply: starting at {start}, fields and nested declarations chain up to "
            f"{depth} message types; the limit is {limit}.")


def longest_type_chain(roots: Iterable[Descriptor]) -> tuple[int, str]:
    """The size-weighted longest path over the strongly connected components reachable from ``roots``, and the
    full name of a message where it starts."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[Descriptor] = []
    component_of: dict[str, int] = {}
    components: list[list[Descriptor]] = []   # in reverse topological order (Tarjan emits sinks first)

    for root in roots:
        if root.full_name in index:
            continue
        # Iterative Tarjan: each frame is a message and an iterator over its successors.
        work = [(root, iter(_successors(root)))]
        index[root.full_name] = low[root.full_name] = len(index)
        stack.append(root)
        on_stack.add(root.full_name)
        while work:
            node, successors = work[-1]
            advanced = False
            for child in successors:
                name = child.full_name
                if name not in index:
                    index[name] = low[name] = len(index)
                    stack.append(child)
                    on_stack.add(name)
                    work.append((child, iter(_successors(child))))
                    advanced = True
                    break
                if name in on_stack:
                    low[node.full_name] = min(low[node.full_name], index[name])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0].full_name
                low[parent] = min(low[parent], low[node.full_name])
            if low[node.full_name] == index[node.full_name]:
                members: list[Descriptor] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member.full_name)
                    component_of[member.full_name] = len(components)
                    members.append(member)
                    if member is node or member.full_name == node.full_name:
                        break
                components.append(members)

    # Components come out sinks first, so every successor's component is finished before its predecessors'.
    longest: list[int] = []
    best, start = 0, ""
    for number, members in enumerate(components):
        below = 0
        for member in members:
            for child in _successors(member):
                other = component_of[child.full_name]
                if other != number:
                    below = max(below, longest[other])
        longest.append(len(members) + below)
        if longest[-1] > best:
            best, start = longest[-1], members[-1].full_name
    return best, start


def _successors(message: Descriptor) -> list[Descriptor]:
    out = [field.message_type for field in message.fields if field.message_type is not None]
    out.extend(message.nested_types)
    return out
