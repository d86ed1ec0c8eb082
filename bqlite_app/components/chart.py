"""The result chart: bar, line, area or scatter of one or more y series against an x column, over the page's rows or
aggregated over the whole result on the server (``state/chart.py``), with PNG and SVG downloads made in the browser.
"""

from __future__ import annotations

import json

import reflex as rx

from bqlite_app.components.controls import labelled_select
from bqlite_app.state.chart import AGGREGATE_LABELS, AGGREGATES, MAX_SERIES
from bqlite_app.state.workspace import WorkspaceState

CHART_ID = "result-chart"
_KINDS = [("bar", "chart-column", "Bar chart"), ("line", "chart-line", "Line chart"),
          ("area", "chart-area", "Area chart"), ("scatter", "chart-scatter", "Scatter chart")]

# The export works on the drawn chart: it copies the recharts <svg>, writes every colour and font the page's CSS gives
# it into the copy (CSS variables mean nothing outside the page), adds the legend (recharts draws it as HTML) and a
# caption, then saves the SVG text, or draws it on a canvas at twice the size for the PNG. Nothing is fetched.
_EXPORT_JS = """
(function (format) {
  const box = document.getElementById(%(chart_id)s);
  const fileName = (box && box.getAttribute('data-file-name')) || 'chart';
  const svg = box && box.querySelector('.recharts-wrapper > svg.recharts-surface');
  if (!svg) { return; }
  const props = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-dasharray', 'stroke-opacity', 'opacity',
                 'font-family', 'font-size', 'font-weight', 'text-anchor', 'dominant-baseline', 'visibility',
                 'display'];
  const copy = svg.cloneNode(true);
  const from = [svg, ...svg.querySelectorAll('*')];
  const to = [copy, ...copy.querySelectorAll('*')];
  from.forEach((el, i) => {
    const style = getComputedStyle(el);
    props.forEach((p) => { const v = style.getPropertyValue(p); if (v) { to[i].style.setProperty(p, v); } });
    // The resolved values are in the style now; what still names a CSS variable goes.
    [...to[i].attributes].forEach((a) => {
      if (a.name !== 'style' && a.value.includes('var(')) { to[i].removeAttribute(a.name); }
    });
    const inline = to[i].getAttribute('style');
    if (inline && inline.includes('var(')) {
      to[i].setAttribute('style', inline.split(';').filter((d) => !d.includes('var(')).join(';'));
    }
  });
  let background = 'rgb(255, 255, 255)';
  for (let el = box; el; el = el.parentElement) {
    const bg = getComputedStyle(el).backgroundColor;
    if (bg && bg !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(bg)) { background = bg; break; }
  }
  const textColor = getComputedStyle(box).color || '#000';
  const width = svg.width.baseVal.value || svg.getBoundingClientRect().width;
  const height = svg.height.baseVal.value || svg.getBoundingClientRect().height;
  const top = 28, bottom = 24;
  const ns = 'http://www.w3.org/2000/svg';
  const out = document.createElementNS(ns, 'svg');
  out.setAttribute('xmlns', ns);
  out.setAttribute('width', width);
  out.setAttribute('height', height + top + bottom);
  out.setAttribute('viewBox', `0 0 ${width} ${height + top + bottom}`);
  out.setAttribute('font-family', getComputedStyle(box).fontFamily);
  const rect = document.createElementNS(ns, 'rect');
  rect.setAttribute('width', '100%%'); rect.setAttribute('height', '100%%'); rect.setAttribute('fill', background);
  out.appendChild(rect);
  let x = 12;
  box.querySelectorAll('.recharts-legend-item').forEach((item) => {
    const label = (item.querySelector('.recharts-legend-item-text') || item).textContent || '';
    const icon = item.querySelector('path, rect, circle');
    const color = icon ? (getComputedStyle(icon).fill !== 'none' ? getComputedStyle(icon).fill
                                                                 : getComputedStyle(icon).stroke) : textColor;
    const swatch = document.createElementNS(ns, 'rect');
    swatch.setAttribute('x', x); swatch.setAttribute('y', 9); swatch.setAttribute('width', 10);
    swatch.setAttribute('height', 10); swatch.setAttribute('fill', color);
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', x + 14); text.setAttribute('y', 18); text.setAttribute('font-size', '12');
    text.setAttribute('fill', textColor); text.textContent = label;
    out.appendChild(swatch); out.appendChild(text);
    x += 24 + 7 * label.length;
  });
  const group = document.createElementNS(ns, 'g');
  group.setAttribute('transform', `translate(0, ${top})`);
  copy.removeAttribute('class'); copy.removeAttribute('style');
  copy.setAttribute('x', 0); copy.setAttribute('y', 0);
  copy.setAttribute('width', width); copy.setAttribute('height', height);
  group.appendChild(copy);
  out.appendChild(group);
  const caption = box.querySelector('[data-chart-caption]');
  if (caption && caption.textContent) {
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', 12); text.setAttribute('y', height + top + 16); text.setAttribute('font-size', '11');
    text.setAttribute('fill', textColor); text.textContent = caption.textContent;
    out.appendChild(text);
  }
  const source = '<?xml version="1.0" encoding="UTF-8"?>\\n' + new XMLSerializer().serializeToString(out);
  const save = (blob, name) => {
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url; link.download = name; link.style.display = 'none';
    document.body.appendChild(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  };
  const svgBlob = new Blob([source], {type: 'image/svg+xml;charset=utf-8'});
  if (format === 'svg') { save(svgBlob, fileName + '.svg'); return; }
  const image = new Image();
  const url = URL.createObjectURL(svgBlob);
  image.onload = () => {
    const scale = 2;
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale); canvas.height = Math.round((height + top + bottom) * scale);
    const context = canvas.getContext('2d');
    context.scale(scale, scale);
    context.drawImage(image, 0, 0);
    URL.revokeObjectURL(url);
    canvas.toBlob((png) => { if (png) { save(png, fileName + '.png'); } }, 'image/png');
  };
  image.onerror = () => { URL.revokeObjectURL(url); console.warn('The chart could not be drawn as PNG.'); };
  image.src = url;
})(%(format)s)
"""


def export_script(fmt: str) -> str:
    """The browser code that saves the drawn chart as ``fmt`` (``png`` or ``svg``), named by the chart box's
    ``data-file-name``."""
    return _EXPORT_JS % {"chart_id": json.dumps(CHART_ID), "format": json.dumps(fmt)}


# Sums over a whole result get long: the y axis reads 71.43B rather than 71428928571.
_COMPACT_NUMBER = ("(v) => (typeof v === 'number' ? new Intl.NumberFormat('en', {notation: 'compact', "
                   "maximumFractionDigits: 2}).format(v) : v)")


def _axes(kind: str) -> list[rx.Component]:
    # A scatter's first and last points would sit on the chart's edges: pad the x axis.
    padding = {"padding": {"left": 16, "right": 16}} if kind == "scatter" else {}
    return [
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-a5)"),
        rx.recharts.x_axis(data_key="x", stroke="var(--gray-10)", tick={"fontSize": 11}, **padding),
        rx.recharts.y_axis(stroke="var(--gray-10)", tick={"fontSize": 11}, width=64,
                           tick_formatter=_COMPACT_NUMBER),
        rx.recharts.graphing_tooltip(
            content_style={"background": "var(--color-panel-solid)", "border": "1px solid var(--gray-a6)",
                           "fontSize": "12px"},
        ),
        # As custom_attrs: Reflex renders legend(wrapper_style=...) one level too deep, and recharts ignores it.
        rx.recharts.legend(custom_attrs={"wrapperStyle": {"fontSize": "12px"}}),
    ]


def _series(kind: str, s: rx.Var) -> rx.Component:
    common = {"name": s["name"], "is_animation_active": False}
    if kind == "line":
        return rx.recharts.line(data_key=s["key"], stroke=s["color"], dot=False, type_="monotone",
                                stroke_width=2, **common)
    if kind == "area":
        return rx.recharts.area(data_key=s["key"], stroke=s["color"], fill=s["color"], fill_opacity=0.25,
                                type_="monotone", active_dot={"r": 4}, **common)
    if kind == "scatter":
        # rx.recharts.scatter has no data_key prop: recharts reads the y of each point from the scatter's dataKey
        # when the y axis has none.
        return rx.recharts.scatter(fill=s["color"], custom_attrs={"dataKey": s["key"]}, **common)
    return rx.recharts.bar(data_key=s["key"], fill=s["color"], max_bar_size=72, **common)


def _chart(kind: str) -> rx.Component:
    return rx.recharts.composed_chart(
        rx.foreach(WorkspaceState.chart_series, lambda s: _series(kind, s)),
        *_axes(kind),
        data=WorkspaceState.chart_data, width="100%", height="100%",
    )


def _kind_picker() -> rx.Component:
    return rx.segmented_control.root(
        *[rx.segmented_control.item(rx.icon(icon, size=14), value=value, aria_label=label, title=label)
          for value, icon, label in _KINDS],
        value=WorkspaceState.chart_kind, on_change=WorkspaceState.set_chart_kind, size="1",
        aria_label="Chart type",
    )


def _labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.hstack(rx.text(label, size="1", color="var(--gray-11)"), control, align="center", spacing="1")


def _series_picker() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(rx.button(
            rx.icon("list-checks", size=13),
            rx.text(WorkspaceState.chart_ys_label, size="1", truncate=True, max_width="16em"),
            rx.icon("chevron-down", size=12),
            size="1", variant="surface", color_scheme="gray", aria_label="Y series",
        )),
        rx.popover.content(
            rx.vstack(
                rx.text(f"Y columns (up to {MAX_SERIES})", size="1", weight="medium", color="var(--gray-11)"),
                rx.foreach(WorkspaceState.numeric_columns, lambda name: rx.checkbox(
                    name, checked=WorkspaceState.chart_ys.contains(name),
                    on_change=lambda on: WorkspaceState.toggle_chart_y(name, on), size="1")),
                rx.cond(WorkspaceState.numeric_columns.length() == 0,
                        rx.text("No numeric column: use Count.", size="1", color="var(--gray-10)")),
                spacing="2", max_height="50vh", overflow_y="auto",
            ),
            size="1", side="bottom", align="start", aria_label="Choose the y series",
        ),
    )


def _export_button(fmt: str) -> rx.Component:
    return rx.button(
        rx.icon("image-down", size=13), rx.text(fmt.upper(), size="1", weight="medium"),
        on_click=rx.call_script(export_script(fmt)),
        size="1", variant="outline", color_scheme="gray", aria_label=f"Download the chart as {fmt.upper()}",
        title=f"Save the chart as {fmt.upper()} (made in the browser)",
        disabled=WorkspaceState.chart_data.length() == 0,
    )


def _controls() -> rx.Component:
    return rx.hstack(
        _kind_picker(),
        _labelled("X axis", labelled_select("X axis", WorkspaceState.column_names, WorkspaceState.chart_x,
                                            WorkspaceState.set_chart_x, size="1")),
        _labelled("Y", _series_picker()),
        _labelled("Aggregate", labelled_select("Aggregate", [(a, AGGREGATE_LABELS[a]) for a in AGGREGATES],
                                               WorkspaceState.chart_agg, WorkspaceState.set_chart_agg, size="1")),
        rx.cond(WorkspaceState.chart_loading, rx.spinner(size="1")),
        rx.spacer(),
        rx.hstack(_export_button("png"), _export_button("svg"), spacing="1", aria_label="Export the chart"),
        align="center", spacing="4", wrap="wrap", width="100%",
    )


def _body() -> rx.Component:
    return rx.cond(
        WorkspaceState.chart_error != "",
        rx.callout(WorkspaceState.chart_error, icon="circle-alert", color_scheme="red", size="1", role="alert",
                   aria_label="Chart error"),
        rx.cond(
            WorkspaceState.chart_needs_y,
            rx.center(rx.text(rx.cond(WorkspaceState.numeric_columns.length() > 0,
                                      "Choose a y column to plot.",
                                      "The result has no numeric column to plot: choose Count to count rows."),
                              size="2", color="var(--gray-11)"), flex="1", width="100%"),
            rx.box(
                rx.match(WorkspaceState.chart_kind, ("line", _chart("line")), ("area", _chart("area")),
                         ("scatter", _chart("scatter")), _chart("bar")),
                width="100%", flex="1", min_height="0",
            ),
        ),
    )


def quick_chart() -> rx.Component:
    return rx.vstack(
        _controls(),
        _body(),
        rx.text(WorkspaceState.chart_caption, size="1", color="var(--gray-10)", aria_label="Chart source",
                custom_attrs={"data-chart-caption": "1"}),
        id=CHART_ID, custom_attrs={"data-file-name": WorkspaceState.chart_file_name},
        spacing="3", width="100%", height="100%", padding="0.75em",
        # The tab's content mounts when it is opened: load the aggregate then (kept while its inputs stay the same).
        on_mount=WorkspaceState.load_chart,
    )
