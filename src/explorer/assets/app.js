// clusterby explorer. Every caption, name, keyword and label is put into the page with
// textContent (never innerHTML), so text from the index cannot become markup.
"use strict";

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
  "#c7c7c7", "#dbdb8d", "#9edae5"];
const $ = (id) => document.getElementById(id);
const colour = (c) => (c < 0 ? "#bbbbbb" : COLOURS[c % COLOURS.length]);
let info = { images: false, labelled: false };
let current = null; // the query on screen, as URLSearchParams
let lastMap = null;
let lastView = null; // the clusters on screen, for the names in a map selection

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function api(path, params) {
  const r = await fetch(path + "?" + params.toString(), { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function status(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function queryParams(prefix, by, k, form) {
  const p = new URLSearchParams();
  p.set(prefix + "by", by);
  if (k) p.set(prefix + "k", k);
  p.set(prefix + "method", $("method").value || "kmeans");
  if ($("exclude").value.trim()) p.set(prefix + "exclude", $("exclude").value.trim());
  p.set(prefix + "seed", $("seed").value || "42");
  if (info.llm && $("llm").value !== "none") p.set(prefix + "llm", $("llm").value);
  return p;
}

function imageOf(item) {
  const img = el("img", { src: "/image?id=" + encodeURIComponent(item.id), alt: item.caption, title: item.caption });
  img.addEventListener("click", () => openLightbox(item));
  img.addEventListener("error", () => img.remove()); // an id without an image file
  return img;
}

function itemLine(item) {
  const li = el("li", {}, item.caption);
  if (item.label != null) li.append(el("span", { class: "label" }, item.label));
  return li;
}

function card(c) {
  const meta = [c.size + " items"];
  if (c.purity != null) meta.push("purity " + c.purity.toFixed(2) + " (" + c.top_label + ")");
  const box = el("article", { class: "card", "data-cluster": String(c.id) },
    el("h3", {}, el("span", { class: "swatch", style: "background:" + colour(c.id) }), c.name),
    el("div", { class: "meta" }, meta.join(" · ")));
  if (c.keywords.length) box.append(el("div", { class: "kw" }, c.keywords.join(", ")));
  if (info.images) box.append(el("div", { class: "thumbs" }, ...c.items.map(imageOf)));
  const list = el("ul", {}, ...c.items.map(itemLine));
  box.append(list);
  if (c.size > c.items.length) {
    const more = el("button", { class: "more", type: "button" }, "show all " + c.size);
    more.addEventListener("click", async () => {
      const p = new URLSearchParams(current);
      p.set("cluster", c.id); p.set("limit", "500");
      const m = await api("/api/members", p);
      list.replaceChildren(...m.items.map(itemLine));
      if (info.images) box.querySelector(".thumbs").replaceChildren(...m.items.slice(0, 60).map(imageOf));
      more.remove();
    });
    box.append(more);
  }
  return box;
}

function render(view) {
  lastView = view;
  $("cards").replaceChildren(...view.clusters.map(card));
  const noise = $("noise");
  noise.hidden = !view.noise;
  if (view.noise) noise.replaceChildren(el("h2", {}, "Noise (" + view.noise.size + " items)"), card(view.noise));
}

function setExports(p) {
  for (const f of ["json", "csv", "html"]) {
    const q = new URLSearchParams(p); q.set("format", f);
    $("export-" + f).href = "/api/export?" + q.toString();
  }
  $("exports").hidden = false;
}

// One query from the form: fetch, draw, and time Enter → clusters drawn (after the next frame).
async function runQuery(fresh) {
  const by = $("by").value.trim();
  if (!by) return null;
  const p = queryParams("", by, $("k").value.trim());
  if (fresh) p.set("fresh", "1");
  const t0 = performance.now();
  const view = await api("/api/query", p);
  render(view);
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const ms = performance.now() - t0;
  p.delete("fresh");
  current = p;
  setExports(p);
  const s = $("status");
  status(view.clusters.length + " clusters by “" + view.criterion + "” (K " + (view.k_auto ? "chosen: " : "") + view.k +
    ") drawn in " + ms.toFixed(0) + " ms; query " + view.query_ms.toFixed(0) + " ms on the server, " + llmText(view) +
    coverageText(view));
  s.dataset.ms = ms.toFixed(1);
  history.replaceState(null, "", "?" + p.toString());
  if (!fresh) report({ ms: ms.toFixed(1) });
  return ms;
}

// How far the captions state the criterion: few captions naming a kind of it means the
// captions were written for something else.
function coverageText(view) {
  if (view.kinds_coverage == null) return "";
  return "; " + Math.round(100 * view.kinds_coverage) + "% of the captions name a kind of the criterion";
}

function llmText(view) {
  if (!view.llm) return view.llm_calls + " LLM calls";
  const u = view.llm;
  return u.calls + " LLM call" + (u.calls === 1 ? "" : "s") + " (" + u.model + ": " + u.seconds.toFixed(1) + " s, " +
    u.prompt_tokens + " + " + u.completion_tokens + " tokens" + (u.failed_calls ? ", " + u.failed_calls + " failed" : "") + ")";
}

async function query(fresh) {
  try {
    const ms = await runQuery(fresh);
    if (ms != null) await drawMap();
  } catch (e) { status(e.message, true); }
}

async function compare() {
  const by2 = $("by2").value.trim();
  if (!by2 || !$("by").value.trim()) return;
  const p = queryParams("a_", $("by").value.trim(), $("k").value.trim());
  for (const [k, v] of queryParams("b_", by2, $("k2").value.trim())) p.set(k, v);
  try {
    const view = await api("/api/compare", p);
    drawCompare(view, p);
  } catch (e) { status(e.message, true); }
}

function drawCompare(view, p) {
  $("compare").hidden = false;
  $("compare-title").textContent = p.get("a_by") + " × " + p.get("b_by") + " (NMI " + view.nmi.toFixed(2) + ")";
  const max = Math.max(1, ...view.counts.flat());
  const head = el("tr", {}, el("th", {}, ""), ...view.b.map((b) => el("th", {}, b.name)));
  const rows = view.a.map((a, i) => el("tr", {}, el("th", {}, a.name),
    ...view.b.map((b, j) => {
      const n = view.counts[i][j];
      const td = el("td", { class: "cell", style: "background: rgba(31,119,180," + (0.7 * n / max).toFixed(3) + ")" }, n);
      td.addEventListener("click", () => openCell(p, a, b));
      return td;
    })));
  $("compare-table").replaceChildren(head, ...rows);
}

async function openCell(p, a, b) {
  const q = new URLSearchParams(p); q.set("a_cluster", a.id); q.set("b_cluster", b.id);
  const cell = await api("/api/cell", q);
  const box = $("cell-items");
  box.replaceChildren(el("h3", {}, a.name + " × " + b.name + " (" + cell.total + ")"));
  if (info.images) box.append(el("div", { class: "thumbs" }, ...cell.items.slice(0, 60).map(imageOf)));
  box.append(el("ul", {}, ...cell.items.map(itemLine)));
}

async function drawMap() {
  const m = await api("/api/map", current);
  lastMap = m;
  const W = 1000, H = 560, pad = 12;
  const [x0, x1] = [Math.min(...m.x), Math.max(...m.x)], [y0, y1] = [Math.min(...m.y), Math.max(...m.y)];
  const sx = (v) => pad + (W - 2 * pad) * (v - x0) / ((x1 - x0) || 1);
  const sy = (v) => H - pad - (H - 2 * pad) * (v - y0) / ((y1 - y0) || 1);
  const g = svg("g", {});
  m.px = m.x.map(sx); m.py = m.y.map(sy);
  for (let i = 0; i < m.x.length; i++) {
    const c = svg("circle", { cx: m.px[i].toFixed(1), cy: m.py[i].toFixed(1), r: "3", fill: colour(m.cluster[i]), "fill-opacity": "0.75" });
    const t = svg("title", {}); t.textContent = m.caption[i]; c.append(t);
    g.append(c);
  }
  $("map").replaceChildren(g);
  $("map-section").hidden = false;
}

function mapPoint(evt) {
  const pt = $("map").createSVGPoint(); pt.x = evt.clientX; pt.y = evt.clientY;
  return pt.matrixTransform($("map").getScreenCTM().inverse());
}

// Even-odd ray casting: a point is inside when a ray from it crosses the outline an odd number of times.
function insidePolygon(x, y, poly) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [a, b] = [poly[i], poly[j]];
    if ((a.y > y) !== (b.y > y) && x < a.x + (b.x - a.x) * (y - a.y) / (b.y - a.y)) inside = !inside;
  }
  return inside;
}

function selectLasso(poly) {
  if (!lastMap || poly.length < 3) return;
  const picked = [];
  for (let i = 0; i < lastMap.px.length; i++) if (insidePolygon(lastMap.px[i], lastMap.py[i], poly)) picked.push(i);
  const perCluster = new Map();
  for (const i of picked) perCluster.set(lastMap.cluster[i], (perCluster.get(lastMap.cluster[i]) || 0) + 1);
  const names = new Map((lastView ? lastView.clusters : []).map((c) => [c.id, c.name]));
  const summary = [...perCluster.entries()].sort((a, b) => b[1] - a[1])
    .map(([c, n]) => (c < 0 ? "noise" : names.get(c) || "cluster " + c) + " " + n).join(" · ");
  const box = $("selection");
  box.dataset.count = String(picked.length);
  box.replaceChildren(el("h3", {}, picked.length + " selected" + (summary ? ": " + summary : "")),
    el("ul", {}, ...picked.slice(0, 200).map((i) => el("li", {}, lastMap.caption[i]))));
}

// A lasso: press, draw round the points, release. Pointer events, so pen and touch work too.
function wireMap() {
  const map = $("map");
  let poly = null, outline = null;
  const path = () => "M" + poly.map((q) => q.x.toFixed(1) + " " + q.y.toFixed(1)).join("L") + "Z";
  map.addEventListener("pointerdown", (e) => {
    poly = [mapPoint(e)];
    outline = svg("path", { d: path(), fill: "rgba(31,119,180,.15)", stroke: "#1f77b4", "stroke-dasharray": "4 3" });
    map.append(outline);
    map.setPointerCapture(e.pointerId);
  });
  map.addEventListener("pointermove", (e) => {
    if (!poly) return;
    const p = mapPoint(e), last = poly[poly.length - 1];
    if (Math.hypot(p.x - last.x, p.y - last.y) < 2) return;
    poly.push(p);
    outline.setAttribute("d", path());
  });
  const finish = (e) => {
    if (!poly) return;
    poly.push(mapPoint(e));
    selectLasso(poly);
    outline.remove(); poly = null;
  };
  map.addEventListener("pointerup", finish);
  map.addEventListener("pointercancel", () => { if (outline) outline.remove(); poly = null; });
}

function openLightbox(item) {
  $("lightbox-img").src = "/image?id=" + encodeURIComponent(item.id);
  $("lightbox-caption").textContent = item.caption + (item.label != null ? " — " + item.label : "");
  $("lightbox").hidden = false;
}

// ?by=…&bench=N runs the query N times, uncached, and records the median time in #status.
async function bench(n) {
  const times = [];
  for (let i = 0; i < n; i++) times.push(await runQuery(true));
  times.sort((a, b) => a - b);
  $("status").dataset.median = times[Math.floor(times.length / 2)].toFixed(1);
  $("status").dataset.runs = times.map((t) => t.toFixed(1)).join(" ");
  report({ median: $("status").dataset.median, runs: n });
}

// Tells the server how long the page took (it logs it), so the time is the browser's own.
function report(values) {
  fetch("/api/drawn?" + new URLSearchParams(values).toString(), { credentials: "same-origin" }).catch(() => {});
}

async function start() {
  info = await api("/api/info", new URLSearchParams());
  $("index-info").textContent = info.index + " · " + info.rows + " items" + (info.labelled ? " · labelled" : "");
  $("method").replaceChildren(...info.methods.map((m) => el("option", { value: m }, m)));
  $("llm-label").hidden = !info.llm;
  $("query").addEventListener("submit", (e) => { e.preventDefault(); query(false); });
  $("compare-form").addEventListener("submit", (e) => { e.preventDefault(); compare(); });
  $("lightbox").addEventListener("click", () => { $("lightbox").hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("lightbox").hidden = true; });
  wireMap();
  const u = new URLSearchParams(location.search);
  for (const k of ["by", "k", "method", "exclude", "seed", "by2", "k2", "llm"]) if (u.get(k)) $(k).value = u.get(k);
  try {
    if (u.get("by") && u.get("bench")) await bench(Math.max(1, Math.min(50, parseInt(u.get("bench"), 10) || 1)));
    if (u.get("by")) await query(false);
    if (u.get("by2")) await compare();
  } catch (e) { status(e.message, true); }
  document.body.dataset.ready = "1";
}

start().catch((e) => status(e.message, true));
