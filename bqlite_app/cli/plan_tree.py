"""``bqlite jobs plan``: the execution graph of a job's run as a tree, with time bars; slow operators stand out."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from bqlite_app.cli.output import note, out
from bqlite_app.humanize import human_count

BAR_WIDTH = 20


def print_plan(answer: dict[str, Any], *, explain: bool = False) -> None:
    """The graph when the run left one (else why not), then the EXPLAIN text when asked for or when there is no
    graph to show."""
    graph = answer.get("execution_graph") or {}
    shown = graph.get("status") == "available" and graph.get("root")
    if shown:
        out.print(graph_tree(graph))
        truncated = " (truncated)" if graph.get("truncated") else ""
        note(f"[dim]{graph.get('operator_count', 0)} operators, {_ms(graph.get('total_ms'))} in all{truncated}; "
             f"from {graph.get('source', '?')}[/]")
    elif graph.get("note"):
        note(f"[dim]No execution graph: {escape(str(graph['note']))}[/]")
    if explain or not shown:
        if answer.get("plan"):
            if shown:
                out.print()
            out.print(answer["plan"], markup=False, highlight=False)
        elif answer.get("plan_error"):
            note(f"[dim]No EXPLAIN: {escape(str(answer['plan_error']))}[/]")


def graph_tree(graph: dict[str, Any]) -> Tree:
    root = graph["root"]
    tree = Tree(_label(root), guide_style="dim")
    _add_children(tree, root)
    return tree


def _add_children(branch: Tree, node: dict[str, Any]) -> None:
    for child in node.get("children") or []:
        _add_children(branch.add(_label(child)), child)


def _label(node: dict[str, Any]) -> Text:
    share = float(node.get("share") or 0.0)
    slow = bool(node.get("slow"))
    filled = round(share * BAR_WIDTH)
    text = Text()
    text.append(str(node.get("name", "?")), style="bold red" if slow else "bold")
    text.append("  ")
    text.append("█" * filled, style="red" if slow else "cyan")
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f" {share:6.1%}", style="bold red" if slow else "")
    text.append(f"  {_ms(node.get('time_ms')):>9}")
    if node.get("rows") is not None:
        text.append(f"  {human_count(node['rows'])} rows", style="dim")
    if slow:
        text.append("  slow", style="reverse red")
    if node.get("detail"):
        text.append(f"\n{node['detail']}", style="dim")
    return text


def _ms(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.2f} ms"
