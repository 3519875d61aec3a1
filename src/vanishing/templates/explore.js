// The panel: every seed's curves and numbers for the group of networks a mark stands for.
// Data: the JSON block #explore-data (vanishing/explore.py). Links: #cell=ACT/INIT/DEPTH
// [&optimizer=...][&data=...], missing axes meaning the run's primary study, and #run=NAME for
// a recorded run (vanishing/links.py).
// Runs under the page's Content-Security-Policy, allowed by its hash: no eval, no network, no
// innerHTML (labels come from configs: they go in as text only).
(() => {
  "use strict";
  const block = document.getElementById("explore-data");
  const panel = document.getElementById("explore");
  if (!block || !panel) return;
  const DATA = JSON.parse(block.textContent);
  const NS = "http://www.w3.org/2000/svg";
  const body = panel.querySelector(".explore-body");
  // How seed 1, 2, ... of a group are drawn, and named in the key.
  const SEED_DASH = [["", "solid"], ["5 3", "dashed"], ["1.5 2.5", "dotted"], ["8 3 2 3", "dash-dot"], ["3 3", "short dashes"]];
  const key = (a, i, d, o, x) => JSON.stringify([a, i, String(d), o, x]);
  const index = new Map(DATA.groups.filter((g) => !g.runs.length)
    .map((g) => [key(g.activation, g.initializer, g.depth, g.training, g.data), g]));
  const byRun = new Map(DATA.groups.flatMap((g) => g.runs.map((name) => [name, g])));
  let opener = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function sv(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "#cell=a/b/4&optimizer=o" or "#run=name" -> {group} or {error}; null for other fragments.
  function find(hash) {
    if (hash.startsWith("#run=")) {
      let name = hash.slice(5);
      try { name = decodeURIComponent(name); } catch (e) { /* shown as written */ }
      const group = byRun.get(name);
      return group ? { group } : { error: `this page has no recorded run named “${name}”` };
    }
    if (!hash.startsWith("#cell=")) return null;
    const [cell, ...rest] = hash.slice(6).split("&");
    try {
      const parts = cell.split("/").map(decodeURIComponent);
      const axes = { optimizer: DATA.primary.training, data: DATA.primary.data };
      for (const pair of rest) {
        const at = pair.indexOf("=");
        const name = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
        if (name in axes) axes[name] = decodeURIComponent(at < 0 ? "" : pair.slice(at + 1));
      }
      if (parts.length !== 3) return { error: `a cell link names ACTIVATION/INITIALIZER/DEPTH, not “${parts.join("/")}”` };
      const group = index.get(key(parts[0], parts[1], parts[2], axes.optimizer, axes.data));
      if (group) return { group };
      const what = [parts[0], parts[1], `depth ${parts[2]}`, axes.optimizer, axes.data].filter(Boolean).join(" · ");
      return { error: `this page has no networks for ${what}; the whole-matrix table lists the ones it has` };
    } catch (e) {
      return { error: "it is not percent-encoded as the page writes its links" };
    }
  }

  // One column's values, epochs 0..epochs (log series in log10 units: their axis is drawn in
  // them), null for no number; the bytes are explore.pack's, epoch-major.
  function decode(raw, lo, hi, column, columns, epochs) {
    const values = [];
    for (let e = 0; e <= epochs; e++) {
      const i = e * columns + column;
      const q = i < raw.length ? raw.charCodeAt(i) : DATA.missing;
      values.push(q === DATA.missing ? null : lo + (q / DATA.levels) * (hi - lo));
    }
    return values;
  }

  // The axis's domain and ticks: fractions on 0..1; magnitudes (log10 units) widened to the
  // nearest 1-2-5 steps around the data, or whole decades when they span several.
  function axisOf(lo, hi, log) {
    if (!log) return { lo: Math.min(lo, 0), hi: Math.max(hi, 1), ticks: [0, 0.25, 0.5, 0.75, 1] };
    const steps = [];
    for (let k = Math.floor(lo) - 1; k <= Math.ceil(hi) + 1; k++) {
      for (const m of hi - lo > 2 ? [1] : [1, 2, 5]) steps.push(k + Math.log10(m));
    }
    const a = Math.max(...steps.filter((t) => t <= lo + 1e-9));
    const b = Math.min(...steps.filter((t) => t >= hi - 1e-9));
    let inside = steps.filter((t) => t >= a - 1e-9 && t <= b + 1e-9);
    const every = Math.ceil(inside.length / 6);
    inside = inside.filter((_, i) => i % every === 0);
    return { lo: a, hi: b > a ? b : a + 1, ticks: inside };
  }
  function tickLabel(t, log) {
    if (!log) return String(t);
    const k = Math.floor(t + 1e-9), m = Math.round(10 ** (t - k));
    if (k >= -2 && k <= 2) return String(+(m * 10 ** k).toPrecision(2));
    return `${m === 1 ? "" : m + "×"}1e${k}`.replace("-", "−");
  }

  // One chart: lines[] = {values: [y | null per epoch], lo, hi (their series' range), colour, dash, width, id}.
  function chart(series, lines, epochs) {
    const log = series.log;
    const W = 330, H = 170, L = 48, R = 10, T = 8, B = 20;
    // every series' bytes span its own [low, high] exactly: the chart spans them all
    let lo = Math.min(...lines.map((l) => l.lo)), hi = Math.max(...lines.map((l) => l.hi));
    if (!(hi >= lo)) { lo = 0; hi = 1; }
    const scale = axisOf(lo, hi, log);
    lo = scale.lo; hi = scale.hi;
    const x = (e) => L + (e / Math.max(1, epochs)) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    const svg = sv("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `${series.title} over ${epochs} epochs` });
    const axis = sv("g", { class: "axis" });
    for (const t of scale.ticks) {
      axis.append(sv("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), class: "grid" }));
      axis.append(sv("text", { x: L - 4, y: y(t) + 3, "text-anchor": "end" }, tickLabel(t, log)));
    }
    for (const e of [0, Math.round(epochs / 2), epochs]) {
      axis.append(sv("text", { x: x(e), y: H - 6, "text-anchor": "middle" }, String(e)));
    }
    svg.append(axis);
    const round = (v) => Math.round(v * 10) / 10; // a tenth of a pixel
    for (const line of lines) {
      let d = "", pen = false;
      line.values.forEach((v, e) => {
        if (v === null) { pen = false; return; }
        d += `${pen ? "L" : "M"}${round(x(e))} ${round(y(v))}`;
        pen = true;
      });
      if (d) svg.append(sv("path", { d, fill: "none", stroke: line.colour, "stroke-width": line.width, "stroke-dasharray": line.dash, "data-line": line.id }));
    }
    const figure = el("figure", { class: "explore-chart" });
    figure.append(el("figcaption", {}, `${series.title}${log ? ", log scale" : ""}, by epoch`), svg);
    figure.dataset.series = series.name;
    figure.dataset.scale = JSON.stringify([lo, hi, T, H - B]); // for a test: value <-> y
    return figure;
  }

  function curves(group) {
    const out = el("div", { class: "explore-charts" });
    const count = { layers: group.layers.length, hidden: group.hidden, one: 1 };
    for (const series of DATA.series) {
      const columns = count[series.columns];
      const lines = [];
      group.seeds.forEach((seed, i) => {
        const packed = new Map(seed.curves).get(series.name);
        if (!packed || columns === 0) return;
        const [lo, hi, b64] = packed;
        const raw = atob(b64);
        for (let k = 0; k < columns; k++) {
          lines.push({
            values: decode(raw, lo, hi, k, columns, group.epochs),
            lo,
            hi,
            colour: series.columns === "one" ? "#333" : group.colours[k], // a layer in its colour
            dash: SEED_DASH[i % SEED_DASH.length][0],
            width: seed.status === "ok" ? 1.3 : 1,
            id: `${seed.name}/${k}`,
          });
        }
      });
      if (lines.length) out.append(chart(series, lines, group.epochs));
    }
    return out;
  }

  function table(caption, head, rows) {
    const scroller = el("div", { class: "table-scroll" });
    const t = el("table", { class: "explore-table" });
    scroller.append(t);
    t.append(el("caption", {}, caption));
    const tr = el("tr");
    head.forEach((h) => tr.append(el("th", { scope: "col" }, h)));
    const thead = el("thead");
    thead.append(tr);
    t.append(thead);
    const tb = el("tbody");
    for (const row of rows) {
      const r = el("tr", row.cls ? { class: row.cls } : {});
      row.cells.forEach((c, i) => r.append(el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, c)));
      tb.append(r);
    }
    t.append(tb);
    return scroller;
  }

  function keyLegend(group) {
    const p = el("p", { class: "explore-key" });
    group.layers.forEach((label, k) => {
      const i = el("i", { style: `background:${group.colours[k]}` });
      p.append(i, document.createTextNode(` ${label}  `));
    });
    const who = group.runs.length ? "" : "seed ";
    const seeds = group.seeds.map((s, i) => `${who}${s.name} ${SEED_DASH[i % SEED_DASH.length][1]}`);
    p.append(document.createTextNode(`· ${seeds.join(", ")}`));
    return p;
  }

  function draw(group) {
    body.replaceChildren();
    const last = group.epochs;
    const who = group.runs.length ? "" : "seed ";
    body.append(
      el("h2", { id: "explore-title", tabindex: "-1" }, group.title),
      keyLegend(group),
      curves(group),
      table(`Each ${who || "run "}after epoch ${last}`, [who ? "seed" : "run", "status", "final loss", "final accuracy", "atten. init", "atten. end"], [
        ...group.seeds.map((s) => ({ cells: [s.name, s.status, ...s.numbers], cls: s.status === "ok" ? "" : "diverged" })),
        { cells: ["mean ± std", "over the seeds that count", ...group.mean], cls: "mean" },
      ]),
    );
    group.seeds.forEach((s, i) => {
      const details = el("details", i === 0 ? { open: "" } : {});
      details.append(el("summary", {}, `Layer by layer, ${who}${s.name}`));
      details.append(table(`${who}${s.name}: each weight matrix, input side first`,
        ["layer", "mean |g| epoch 0", `mean |g| epoch ${last}`, `update ratio epoch ${last}`, `saturated epoch ${last}`, `dead epoch ${last}`],
        s.layers.map((row, k) => ({ cells: [group.layers[k], ...row] }))));
      body.append(details);
    });
  }

  function show(hash, focus) {
    const found = find(hash);
    if (!found) { close(false); return; }
    performance.mark("vanishing:panel-start");
    if (found.group) {
      draw(found.group);
    } else {
      body.replaceChildren(el("h2", { id: "explore-title", tabindex: "-1" }, "No such networks"), el("p", { class: "note" }, `The link ${hash} cannot be shown: ${found.error}.`));
      opener = null;
    }
    panel.hidden = false;
    performance.mark("vanishing:panel-end");
    const m = performance.measure("vanishing:panel", "vanishing:panel-start", "vanishing:panel-end");
    panel.dataset.drawMs = m.duration.toFixed(1);
    if (focus) body.querySelector("#explore-title").focus();
  }

  // The address names the open panel, so it can be copied and shared. A panel is not a page:
  // opening or closing one replaces the history entry rather than adding one, so Back leaves
  // the page as it would have without panels.
  function close(restore) {
    if (panel.hidden) return;
    panel.hidden = true;
    body.replaceChildren();
    if (find(location.hash)) history.replaceState(null, "", location.pathname + location.search);
    if (restore && opener && document.contains(opener)) opener.focus();
  }

  document.addEventListener("click", (event) => {
    // a new tab or window (Ctrl, Cmd, Shift, middle button) opens the link as a browser does
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest ? event.target.closest("a") : null;
    if (!a) return;
    const href = a.getAttribute("href") || "";
    if (!href.startsWith("#cell=") && !href.startsWith("#run=")) return;
    event.preventDefault();
    opener = a;
    history.replaceState(null, "", href);
    show(href, true);
  });
  panel.querySelector(".explore-close").addEventListener("click", () => close(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) close(true);
  });
  // a fragment typed or followed from elsewhere: the panel it names (another closes the panel)
  window.addEventListener("hashchange", () => show(location.hash, true));
  if (location.hash) show(location.hash, true);
})();
