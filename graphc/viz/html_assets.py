"""The CSS and JavaScript that ``to_html`` inlines into its page, kept as strings so the package ships no
data files and the page needs no network: pan and zoom, search, a details panel and a self-test.

The page's JS reads the graph data from ``<script type="application/json" id="graph-data">`` and the
SVG that Python drew (``.pane`` sections, ``.node`` groups with ``data-i``, ``.edge`` paths with
``data-s``/``data-d``). Opening the page with ``#selftest`` clicks the first node, searches for it and
zooms, then writes what happened (and any errors) as JSON into ``<pre id="selftest">``.
"""

CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; font: 13px Helvetica, Arial, 'Liberation Sans', sans-serif;
  color: #222; background: #fafafa; }
body { display: flex; flex-direction: column; }
header { display: flex; align-items: center; gap: 14px; padding: 8px 12px; background: #fff;
  border-bottom: 1px solid #ddd; flex-wrap: wrap; }
header h1 { font-size: 15px; margin: 0; white-space: nowrap; }
#search { width: 220px; padding: 4px 6px; font: inherit; }
#search-count { color: #666; min-width: 70px; }
.legend { display: flex; gap: 10px; flex-wrap: wrap; align-items: center; }
.legend span { display: inline-flex; align-items: center; gap: 4px; }
.sw { display: inline-block; width: 16px; height: 11px; border: 1.5px solid; border-radius: 2px; }
main { flex: 1; display: flex; min-height: 0; }
#panes { flex: 1; display: flex; min-width: 0; }
.pane { flex: 1; display: flex; flex-direction: column; min-width: 0; border-right: 1px solid #ddd; }
.pane-head { display: flex; justify-content: space-between; align-items: center; padding: 4px 8px;
  background: #f0f0f0; border-bottom: 1px solid #ddd; font-weight: bold; gap: 6px; white-space: nowrap; }
.pane-head > span:first-child { overflow: hidden; text-overflow: ellipsis; }
.pane-head button { font: inherit; font-weight: normal; min-width: 28px; margin-left: 2px; cursor: pointer; }
svg.canvas { flex: 1; width: 100%; min-height: 0; background: #fff; cursor: grab; user-select: none; }
svg.canvas.dragging { cursor: grabbing; }
#side { width: 340px; display: flex; flex-direction: column; background: #fff; border-left: 1px solid #ddd; }
#details { flex: 1; overflow: auto; padding: 10px 12px; min-height: 0; }
#details h2 { font-size: 14px; margin: 0 0 8px; word-break: break-all; }
#details h3 { font-size: 12px; margin: 12px 0 4px; color: #555; text-transform: uppercase; }
#details table { border-collapse: collapse; width: 100%; }
#details td { border-top: 1px solid #eee; padding: 2px 4px; vertical-align: top; word-break: break-all; }
#details td:first-child { color: #666; white-space: nowrap; width: 1%; }
#details pre { background: #f6f3fb; padding: 6px; font-size: 11px; white-space: pre-wrap; margin: 0; }
#details a { color: #1f5fae; cursor: pointer; text-decoration: underline; word-break: break-all; }
#details ul { margin: 0; padding-left: 16px; }
.hint { color: #888; }
#stats { max-height: 50%; overflow: auto; border-top: 1px solid #ddd; padding: 4px 8px; }
#stats summary { font-weight: bold; cursor: pointer; padding: 2px 0; }
#stats table { border-collapse: collapse; font-size: 11.5px; width: 100%; }
#stats th, #stats td { padding: 2px 4px; border-bottom: 1px solid #eee; text-align: right; }
#stats th:first-child, #stats td:first-child, #stats td:last-child { text-align: left; }
#stats tfoot td { font-weight: bold; }
.edge { fill: none; stroke: #8a8a8a; stroke-width: 1.2; }
.edge.from-gradient { stroke: #e3a35c; }
.edge.control { stroke: #b0b0b0; stroke-dasharray: 4 3; }
.edge.incident { stroke: #d32f2f; stroke-width: 2.4; }
.elabel { font: 9.5px Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace; fill: #555;
  paint-order: stroke; stroke: #fff; stroke-width: 3px; display: none; pointer-events: none; }
svg.zoomed .elabel { display: inline; }
.scope rect { fill: rgba(90, 120, 200, 0.06); stroke: rgba(70, 95, 170, 0.45); stroke-dasharray: 3 2; }
.scope text { font: italic 10.5px Helvetica, Arial, 'Liberation Sans', sans-serif; fill: #4a5a8a; }
svg.noscopes .scope { display: none; }
.node { cursor: pointer; }
.node rect { stroke-width: 1.3; }
.node text { font: bold 12px Helvetica, Arial, 'Liberation Sans', sans-serif; fill: #222;
  text-anchor: middle; }
.node text.d { font: 10.5px Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace; fill: #444; }
.node text.badge { font-size: 11px; fill: #b85f00; }
.k-op rect, .sw.k-op { fill: #fff; background: #fff;
  stroke: #555; border-color: #555; }
.k-placeholder rect, .sw.k-placeholder { fill: #dff3e0; background: #dff3e0;
  stroke: #2e7d32; border-color: #2e7d32; }
.k-variable rect, .sw.k-variable { fill: #dce9fb; background: #dce9fb;
  stroke: #1f5fae; border-color: #1f5fae; }
.k-constant rect, .sw.k-constant { fill: #f0f0f0; background: #f0f0f0;
  stroke: #a0a0a0; border-color: #a0a0a0; }
.k-update rect, .sw.k-update { fill: #fde2df; background: #fde2df;
  stroke: #c62828; border-color: #c62828; }
.k-update rect { stroke-width: 2.2; }
.k-gradient rect, .sw.k-gradient { fill: #ffe6c4; background: #ffe6c4;
  stroke: #e07b00; border-color: #e07b00; }
.k-gradient rect { stroke-dasharray: 5 2.5; stroke-width: 1.7; }
.sw.k-gradient { border-style: dashed; }
.k-fused rect, .sw.k-fused { fill: #ece0fa; background: #ece0fa;
  stroke: #6a3bb5; border-color: #6a3bb5; }
.k-fused rect { stroke-width: 2.6; }
.k-scope rect, .sw.k-scope { fill: #f3efd2; background: #f3efd2;
  stroke: #8b8455; border-color: #8b8455; }
.sw.scope-box { background: rgba(90, 120, 200, 0.06); border: 1.5px dashed rgba(70, 95, 170, 0.6); }
.node.selected rect { stroke: #000; stroke-width: 3.2; stroke-dasharray: none; }
.node.twin rect { stroke: #000; stroke-width: 2.6; stroke-dasharray: 2 2; }
svg.searching .node:not(.hit), svg.searching .edge { opacity: 0.25; }
.node.hit rect { stroke: #f5b400; stroke-width: 4; stroke-dasharray: none; }
"""

JS = r"""
(function () {
  "use strict";
  const started = performance.now();
  const errors = [];
  const selftest = location.hash === "#selftest";
  if (selftest) {
    window.addEventListener("error", (e) => errors.push(String(e.message)));
    const original = console.error;
    console.error = function (...args) {
      errors.push(args.map(String).join(" "));
      original.apply(console, args);
    };
  }
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const details = document.getElementById("details");
  const search = document.getElementById("search");
  const count = document.getElementById("search-count");
  const panes = [];

  function Pane(section, model) {
    const svg = section.querySelector("svg.canvas");
    const view = svg.querySelector("g.viewport");
    const nodes = Array.from(svg.querySelectorAll("g.node"));
    const edges = Array.from(svg.querySelectorAll("path.edge"));
    const index = new Map(model.nodes.map((n, i) => [n.id, i]));
    const pane = { svg, model, nodes, edges, index, k: 1, tx: 0, ty: 0, hits: [], cursor: 0 };
    pane.apply = function () {
      view.setAttribute("transform", `translate(${pane.tx},${pane.ty}) scale(${pane.k})`);
      svg.classList.toggle("zoomed", pane.k >= 0.85);
    };
    pane.zoomAt = function (factor, cx, cy) {
      const k = Math.min(4, Math.max(0.03, pane.k * factor));
      pane.tx = cx - (cx - pane.tx) * (k / pane.k);
      pane.ty = cy - (cy - pane.ty) * (k / pane.k);
      pane.k = k;
      pane.apply();
    };
    pane.size = function () {
      const r = svg.getBoundingClientRect();
      return [Math.max(r.width, 50), Math.max(r.height, 50)];
    };
    pane.fit = function (whole) {
      const [w, h] = pane.size();
      const [x0, y0, x1, y1] = model.bounds;
      let k = Math.min(1, w / (x1 - x0), h / (y1 - y0));
      // a big graph starts readable (its top, fitted to the width if it can be) rather than tiny
      if (!whole && k < 0.75) k = Math.max(0.75, Math.min(1, w / (x1 - x0)));
      pane.k = k;
      pane.tx = (w - (x1 + x0) * k) / 2;
      pane.ty = (y1 - y0) * k <= h ? (h - (y1 + y0) * k) / 2 : 10 - y0 * k;
      pane.apply();
    };
    pane.center = function (i) {
      const [w, h] = pane.size();
      const n = model.nodes[i];
      pane.k = Math.max(pane.k, 0.8);
      pane.tx = w / 2 - n.x * pane.k;
      pane.ty = h / 2 - n.y * pane.k;
      pane.apply();
    };
    let drag = null;
    let moved = false;
    svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, tx: pane.tx, ty: pane.ty };
      moved = false;
    });
    window.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { moved = true; svg.classList.add("dragging"); }
      pane.tx = drag.tx + dx;
      pane.ty = drag.ty + dy;
      pane.apply();
    });
    window.addEventListener("pointerup", () => { drag = null; svg.classList.remove("dragging"); });
    svg.addEventListener("click", (e) => {
      if (moved) { moved = false; return; }
      const g = e.target.closest("g.node");
      if (g) select(pane, Number(g.dataset.i));
    });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = svg.getBoundingClientRect();
      pane.zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    section.querySelectorAll("button[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const [w, h] = pane.size();
      const how = b.dataset.zoom;
      if (how === "fit") pane.fit(true);
      else pane.zoomAt(how === "in" ? 1.25 : 0.8, w / 2, h / 2);
    }));
    // our label widths are estimates: squeeze any text the browser's font made wider than its box.
    // Every text is measured before any is squeezed: a measure after a squeeze lays the page out again
    // (5000 squeezed names took a minute to open)
    const squeeze = [];
    nodes.forEach((g) => {
      const w = Number(g.querySelector("rect").getAttribute("width"));
      g.querySelectorAll("text:not(.badge)").forEach((t) => {
        if (t.getComputedTextLength() > w - 6) squeeze.push([t, w - 8]);
      });
    });
    squeeze.forEach(([t, length]) => {
      t.setAttribute("textLength", length);
      t.setAttribute("lengthAdjust", "spacingAndGlyphs");
    });
    return pane;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function link(pane, i) {
    const a = el("a", pane.model.nodes[i].id);
    a.addEventListener("click", () => { select(pane, i); pane.center(i); });
    return a;
  }

  function select(pane, i) {
    panes.forEach((p) => {
      p.nodes.forEach((g) => g.classList.remove("selected", "twin"));
      p.edges.forEach((e) => e.classList.remove("incident"));
    });
    const node = pane.model.nodes[i];
    pane.nodes[i].classList.add("selected");
    pane.edges.forEach((e) => {
      if (Number(e.dataset.s) === i || Number(e.dataset.d) === i) e.classList.add("incident");
    });
    panes.forEach((p) => {  // the same node in the other graph (before/after optimization)
      if (p !== pane && p.index.has(node.id)) p.nodes[p.index.get(node.id)].classList.add("twin");
    });
    details.replaceChildren(el("h2", node.id));
    const rows = [["op", node.op], ["kind", node.kind], ["source", node.location]];
    if (node.kind === "scope") rows.push(["nodes", String(node.members)]);
    const table = el("table");
    rows.forEach(([k, v]) => {
      const tr = el("tr");
      tr.append(el("td", k), el("td", v));
      table.append(tr);
    });
    if (node.grad_of) {
      const tr = el("tr");
      const cell = el("td");
      const known = pane.index.has(node.grad_of);
      cell.append(known ? link(pane, pane.index.get(node.grad_of)) : el("span", node.grad_of));
      tr.append(el("td", "grad of"), cell);
      table.append(tr);
    }
    details.append(table);
    if (node.types.length) {
      details.append(el("h3", "outputs"));
      const ul = el("ul");
      node.types.forEach((t, k) => ul.append(el("li", `${k}: ${t}`)));
      details.append(ul);
    }
    const attrs = Object.entries(node.attrs);
    if (attrs.length) {
      details.append(el("h3", "attributes"));
      const t = el("table");
      attrs.forEach(([k, v]) => { const tr = el("tr"); tr.append(el("td", k), el("td", v)); t.append(tr); });
      details.append(t);
    }
    if (node.body.length) {
      details.append(el("h3", "fused body"), el("pre", node.body.join("\n")));
    }
    for (const [title, mine, other] of [["inputs", "d", "s"], ["consumers", "s", "d"]]) {
      const ends = pane.model.edges.filter((e) => e[mine] === i);
      if (!ends.length) continue;
      details.append(el("h3", title));
      const ul = el("ul");
      ends.forEach((e) => {
        const li = el("li");
        li.append(link(pane, e[other]), el("span", e.control ? "  (control)" : `  ${e.label}`));
        ul.append(li);
      });
      details.append(ul);
    }
  }

  function runSearch(next) {
    const q = search.value.trim().toLowerCase();
    let total = 0;
    panes.forEach((p) => {
      p.hits = q ? p.model.nodes.flatMap((n, i) => (n.id.toLowerCase().includes(q) ? [i] : [])) : [];
      p.cursor = next && p.hits.length ? (p.cursor + 1) % p.hits.length : 0;
      const hit = new Set(p.hits);
      p.nodes.forEach((g, i) => g.classList.toggle("hit", hit.has(i)));
      p.svg.classList.toggle("searching", q !== "");
      if (p.hits.length) p.center(p.hits[p.cursor]);
      total += p.hits.length;
    });
    count.textContent = q ? `${total} match${total === 1 ? "" : "es"}` : "";
  }

  document.querySelectorAll("section.pane").forEach((s, k) => panes.push(Pane(s, data.panes[k])));
  panes.forEach((p) => p.fit(false));
  const setupMs = performance.now() - started;
  search.addEventListener("input", () => runSearch(false));
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") runSearch(true); });
  document.getElementById("show-scopes").addEventListener("change", (e) => {
    panes.forEach((p) => p.svg.classList.toggle("noscopes", !e.target.checked));
  });

  if (selftest) {
    const result = { errors };
    try {
      const pane = panes[0];
      const g = pane.nodes[0];
      const node = pane.model.nodes[0];
      g.dispatchEvent(new MouseEvent("click", { bubbles: true }));
      const text = details.textContent;
      result.name = node.id;
      result.op = node.op;
      result.shown = text.includes(node.id) && text.includes(node.op);
      result.selected = g.classList.contains("selected");
      search.value = node.id;
      search.dispatchEvent(new Event("input"));
      result.searchHit = g.classList.contains("hit");
      const before = pane.k;
      pane.svg.parentElement.querySelector("button[data-zoom=in]").click();
      result.zoomed = pane.k > before;
      result.panes = panes.length;
      result.setupMs = Math.round(setupMs);  // reading the data, building the panes, fitting them
      search.value = "";
      search.dispatchEvent(new Event("input"));
    } catch (e) {
      errors.push(String((e && e.stack) || e));
    }
    const pre = el("pre", JSON.stringify(result));
    pre.id = "selftest";
    document.body.append(pre);
  }
})();
"""
