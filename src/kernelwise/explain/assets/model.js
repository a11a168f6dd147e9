// The script of the model page (kernelwise.explain.model_page inlines it; no network requests).
//
// Draws every layer's maps from the embedded thumbnails (one byte a number on the layer's scale) and,
// for a clicked unit, writes out the sum that made it from the embedded exact numbers (float32, base64):
// a convolution's window in every input channel times the kernel, folded per channel; pooling,
// activation and linear units; the softmax; and backward, dL/dW of the clicked filter and the chain
// rule for dL/dA. A sampled layer (over the budget) embeds only the input rows × columns that a grid of
// output positions reads (a convolution: its first channels' kernels too): a click snaps to the nearest
// sampled unit; its backward, within a budget, embeds dL/dZ of its first filters whole (dL/dW written out
// for one input channel, the chain rule through those filters, the others' terms one number by the
// engine). Python checked every such sum against the engine before writing the page;
// tests/test_explain_model_page.py checks in Chromium that this script's numbers equal the engine's.
"use strict";
const DATA = JSON.parse(document.getElementById("kw-data").textContent);
const MAXC = DATA.budget.max_channels;
const SHOWN_CHANNELS = 8; // input channels drawn in a unit view (the sums cover all of them)
const state = { image: 0, tab: "forward", cls: null, unit: null, pick: { c: 0, t: 0 } }; // pick: the chain rule's input unit

// ------------------------------------------------------------------ numbers
function number(v) {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const [mant, ex] = v.toExponential(3).split("e");
  const e = Number(ex);
  const strip = (m) => (m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m);
  if (e < -4 || e >= 4) return strip(mant) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  return strip(v.toFixed(3 - e));
}
const paren = (v) => (v < 0 ? "(" + number(v) + ")" : number(v));
function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
const decoded = {};
// An embedded array as {shape, data}; map(key) reads it as (C, H, W) like Python's as_map.
function array(key) {
  if (!key) return null;
  if (!decoded[key]) {
    const e = DATA.arrays[key];
    decoded[key] = { shape: e.shape, data: new Float32Array(bytes(e.b64).buffer) };
  }
  return decoded[key];
}
function map(key) {
  const a = array(key);
  if (!a) return null;
  const s = a.shape;
  const shape = s.length === 3 ? s : s.length === 2 ? [s[0], 1, s[1]] : [1, 1, s[0]];
  return { shape, data: a.data, at: (c, i, j) => a.data[(c * shape[1] + i) * shape[2] + j] };
}
// A layer's input as a unit view reads it: the embedded map, or for a sampled layer the embedded rows ×
// columns of it (a convolution: every channel; else the sampled ones), indexed by the input's own (row, column).
// second: a sum's second operand B.
function inputMap(l, second = false) {
  const layer = DATA.layers[l];
  if (!layer.sample) return map(layerRow(l)[second ? "x2" : "x"]);
  const s = layer.sample, sub = map(layerRow(l)[second ? "x2s" : "xs"]), ri = new Map(), ci = new Map();
  s.in_rows.forEach((r, n) => ri.set(r, n));
  s.in_cols.forEach((q, n) => ci.set(q, n));
  const R = s.in_rows.length, K = s.in_cols.length;
  const at = (c, r, q) => {
    if (!ri.has(r) || !ci.has(q)) throw new Error(`A[${c},${r},${q}] is not embedded`);
    return sub.data[(c * R + ri.get(r)) * K + ci.get(q)];
  };
  return { shape: layer.in_shape, at };
}
// dL/dY at a unit (autograd's): from the embedded map, or a sampled layer's units.
function gradAt(l, c, i, j) {
  const layer = DATA.layers[l];
  if (layer.sample) return map(gradRow(l).gs).at(c, layer.sample.rows.indexOf(i), layer.sample.cols.indexOf(j));
  return map(gradRow(l).g).at(c, i, j);
}
// The engine's output at a unit: from the whole map, or a sampled layer's units.
function engineAt(l, c, i, j) {
  const layer = DATA.layers[l];
  if (layer.sample) {
    const s = layer.sample;
    return map(layerRow(l).ys).at(c, s.rows.indexOf(i), s.cols.indexOf(j));
  }
  const y = map(layerRow(l).y);
  return layer.kind === "linear" || layer.kind === "flatten" ? y.at(0, 0, j) : y.at(c, i, j);
}
// The nearest sampled unit of a sampled layer: its last sampled channel at most, the nearest row and column.
function snap(layer, c, i, j) {
  const s = layer.sample, near = (list, v) => list.reduce((a, b) => (Math.abs(b - v) < Math.abs(a - v) ? b : a));
  return [Math.min(c, s.channels - 1), near(s.rows, i), near(s.cols, j)];
}
const count = (n) => n.toLocaleString("en-US");
function sampleText(layer) {
  const s = layer.sample, H = layer.shape[1];
  return `${count(s.rows.length * s.cols.length)} of ${count(s.positions)} positions × ${s.channels} ` +
    `channel${s.channels === 1 ? "" : "s"} clickable (` + (H === 1 ? "" : `rows ${s.rows.join(",")}; `) +
    `columns ${s.cols.join(",")})`;
}
const image = () => DATA.images[state.image];
const layerRow = (l) => image().layers[l];
const gradRow = (l) => image().grads[String(state.cls)][l];

// ------------------------------------------------------------------ thumbnails
function thumbValues(t, ch, diverging) {
  const [, h, w] = t.shape;
  const q = bytes(t.q);
  const rows = [];
  for (let i = 0; i < h; i++) {
    const row = [];
    for (let j = 0; j < w; j++) {
      const b = q[(ch * h + i) * w + j];
      row.push(diverging ? (2 * b / 255 - 1) * t.m : t.lo + b * (t.hi - t.lo) / 255);
    }
    rows.push(row);
  }
  return rows;
}
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const DIVERGING = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];
function colour(stops, u) {
  const x = Math.min(Math.max(u, 0), 1) * (stops.length - 1);
  const k = Math.min(Math.floor(x), stops.length - 2), f = x - k;
  return stops[k].map((v, n) => Math.round(v + f * (stops[k + 1][n] - v)));
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function canvasOf(h, w, pixel) {
  const c = el("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const [r, g, b] = pixel(i, j), k = 4 * (i * w + j);
      img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  const side = h === 1 ? null : Math.max(48, Math.min(96, 3 * Math.max(h, w)));
  c.style.width = (h === 1 ? Math.min(Math.max(4 * w, 120), 480) : Math.round(side * w / Math.max(h, w))) + "px";
  c.style.height = (h === 1 ? 14 : Math.round(side * h / Math.max(h, w))) + "px";
  return c;
}
function thumbCanvas(t, ch, diverging) {
  const q = bytes(t.q), [, h, w] = t.shape, stops = diverging ? DIVERGING : VIRIDIS;
  return canvasOf(h, w, (i, j) => colour(stops, q[(ch * h + i) * w + j] / 255));
}
function colourBar(lo, hi, diverging) {
  const box = el("span", "scale");
  box.appendChild(el("span", "lo", number(lo)));
  box.appendChild(canvasOf(1, 64, (i, j) => colour(diverging ? DIVERGING : VIRIDIS, j / 63)));
  box.appendChild(el("span", "hi", number(hi)));
  return box;
}

// ------------------------------------------------------------------ the overview
function renderOverview() {
  const root = document.getElementById("overview");
  root.textContent = "";
  const img = image(), back = state.tab === "backward";
  if (img.input) {
    const row = el("div", "layer input");
    const head = el("div", "head");
    head.appendChild(el("b", null, "input"));
    head.appendChild(el("span", "what", img.name));
    head.appendChild(el("span", "shape", DATA.input_shape_text));
    row.appendChild(head);
    const maps = el("div", "maps");
    if (img.rgb) {
      const q = bytes(img.rgb.q), [, h, w] = img.rgb.shape;
      maps.appendChild(canvasOf(h, w, (i, j) => [0, 1, 2].map((n) => q[3 * (i * w + j) + n])));
    }
    for (let c = 0; c < img.input.shape[0]; c++) maps.appendChild(thumbCanvas(img.input, c, false));
    row.appendChild(maps);
    root.appendChild(row);
  }
  DATA.layers.forEach((layer, l) => {
    const t = back ? gradRow(l).thumb : layerRow(l).thumb;
    const row = el("div", "layer" + (layer.block ? " block" : ""));
    row.dataset.layer = l;
    const head = el("div", "head");
    head.appendChild(el("b", null, layer.name));
    head.appendChild(el("span", "op", layer.op));
    head.appendChild(el("span", "what", layer.hyper));
    head.appendChild(el("span", "shape", layer.shape_text));
    head.appendChild(back ? colourBar(-t.m, t.m, true) : colourBar(t.lo, t.hi, false));
    if (!layer.clickable) {
      head.appendChild(el("span", "note", layer.kind === "other" ? "maps only" : "maps only (over the budget)"));
    } else if (layer.sample) {
      head.appendChild(el("span", "note sampled", "sampled: " + sampleText(layer)));
    }
    row.appendChild(head);
    const maps = el("div", "maps");
    for (let c = 0; c < t.shape[0]; c++) {
      const cv = thumbCanvas(t, c, back);
      cv.dataset.layer = l; cv.dataset.ch = c;
      if (layer.clickable) cv.classList.add("click");
      if (layer.sample) {
        cv.classList.add(c < layer.sample.channels ? "sampled" : "unsampled");
        cv.title = c < layer.sample.channels ? "the dots: the sampled units a click shows" :
          `channel ${c} is not sampled: a click shows channel ${layer.sample.channels - 1}`;
        cv.addEventListener("mouseenter", () => showDots(cv, layer, c));
        cv.addEventListener("mouseleave", () => { dots.hidden = true; });
      }
      cv.addEventListener("click", (ev) => clickMap(ev, l, c));
      cv.addEventListener("mousemove", (ev) => hover(ev, l, c, t, back));
      maps.appendChild(cv);
    }
    if (t.channels > t.shape[0]) maps.appendChild(el("span", "more", "+" + (t.channels - t.shape[0]) + " more"));
    row.appendChild(maps);
    root.appendChild(row);
  });
  root.appendChild(probabilities());
}
function probabilities() {
  const img = image(), box = el("div", "layer probs");
  const head = el("div", "head");
  head.appendChild(el("b", null, "softmax"));
  head.appendChild(el("span", "what", "p_k = exp(z_k) / Σ_j exp(z_j)  (click for the numbers)"));
  box.appendChild(head);
  const order = img.probs.map((p, k) => k).sort((a, b) => img.probs[b] - img.probs[a]).slice(0, 10);
  const list = el("div", "bars");
  for (const k of order) {
    const line = el("div", "barline" + (k === img.pred ? " pred" : ""));
    line.appendChild(el("span", "cname", DATA.names[k]));
    const bar = el("span", "bar");
    bar.style.width = Math.max(1, Math.round(240 * img.probs[k])) + "px";
    line.appendChild(bar);
    line.appendChild(el("span", "pval", (100 * img.probs[k]).toFixed(1) + "%"));
    list.appendChild(line);
  }
  box.appendChild(list);
  box.addEventListener("click", () => { state.unit = { softmax: true }; renderUnit(); });
  return box;
}
function clickMap(ev, l, c) {
  const layer = DATA.layers[l], cv = ev.target, [, H, W] = layer.shape; // offsets from inside the border
  const i = Math.max(0, Math.min(H - 1, Math.floor(ev.offsetY / cv.clientHeight * H)));
  const j = Math.max(0, Math.min(W - 1, Math.floor(ev.offsetX / cv.clientWidth * W)));
  select(l, c, i, j);
}
// The number under the mouse: the thumbnail's (one byte on the layer's scale; a block mean when downsampled).
function hover(ev, l, c, t, back) {
  const cv = ev.target, [, h, w] = t.shape;
  const i = Math.max(0, Math.min(h - 1, Math.floor(ev.offsetY / cv.clientHeight * h)));
  const j = Math.max(0, Math.min(w - 1, Math.floor(ev.offsetX / cv.clientWidth * w)));
  const v = thumbValues(t, c, back)[i][j], f = t.f, fh = h === 1 ? 1 : f, nd = DATA.layers[l].nd;
  const where = idx(nd, c, i * fh, j * f) + (f === 1 ? "" : ` (the mean of a ${fh}×${f} block from there)`);
  let near = "";
  const layer = DATA.layers[l];
  if (layer.sample && !back) { // the unit a click gives
    const [, H, W] = layer.shape;
    const ui = Math.max(0, Math.min(H - 1, Math.floor(ev.offsetY / cv.clientHeight * H)));
    const uj = Math.max(0, Math.min(W - 1, Math.floor(ev.offsetX / cv.clientWidth * W)));
    near = "; a click shows the sampled unit " + idx(nd, ...snap(layer, c, ui, uj));
  }
  document.getElementById("hover").textContent = `${layer.name} ${where} ≈ ${number(v)}${near}`;
}
// The sampled positions of a sampled layer, as dots over the hovered map (one canvas, moved from map to map).
const dots = el("canvas", "dots");
dots.hidden = true;
document.body.appendChild(dots);
function showDots(cv, layer, c) {
  const s = layer.sample, [, H, W] = layer.shape, r = cv.getBoundingClientRect();
  const w = cv.clientWidth, h = cv.clientHeight, x0 = r.left + window.scrollX + cv.clientLeft;
  const y0 = r.top + window.scrollY + cv.clientTop;
  dots.width = w; dots.height = h;
  Object.assign(dots.style, { left: x0 + "px", top: y0 + "px", width: w + "px", height: h + "px" });
  const ctx = dots.getContext("2d"), radius = Math.max(1, Math.min(2.5, w / W / 3, h / H / 3));
  ctx.clearRect(0, 0, w, h);
  if (c < s.channels) {
    for (const i of s.rows) {
      for (const j of s.cols) {
        ctx.beginPath();
        ctx.arc((j + 0.5) * w / W, (i + 0.5) * h / H, radius, 0, 2 * Math.PI);
        ctx.fillStyle = "#fff"; ctx.fill();
        ctx.lineWidth = 1; ctx.strokeStyle = "#d62728"; ctx.stroke();
      }
    }
  }
  dots.hidden = false;
}
function select(l, c, i, j) {
  const layer = DATA.layers[l];
  let snapped = null;
  if (layer.sample) { // a click that is not on a sampled unit shows the nearest one
    const [c2, i2, j2] = snap(layer, c, i, j);
    if (c2 !== c || i2 !== i || j2 !== j) snapped = idx(layer.nd, c, i, j);
    [c, i, j] = [c2, i2, j2];
  }
  state.unit = { l, c, i, j, snapped };
  document.querySelectorAll("canvas.sel").forEach((e) => e.classList.remove("sel"));
  const cv = document.querySelector(`canvas[data-layer="${l}"][data-ch="${c}"]`);
  if (cv) cv.classList.add("sel");
  return renderUnit();
}

// ------------------------------------------------------------------ forward sums (the engine's rule)
// The input indices the window of output position i reads along an axis (0 rows, 1 columns), with the
// kernel tap p of each: i·s + p·d − P; for an adaptive pool start + p, start = ⌊i·in/out⌋ .. end = ⌈(i+1)·in/out⌉.
function axisTaps(w, axis, i, size) {
  if (w.adaptive) {
    const out = w.out[axis], start = Math.floor(i * size / out), end = Math.ceil((i + 1) * size / out);
    return Array.from({ length: end - start }, (_, p) => ({ p, r: start + p }));
  }
  return Array.from({ length: w.kernel[axis] }, (_, p) => ({ p, r: i * w.stride[axis] + p * w.dilation[axis] - w.pad[axis] }));
}
function tapsOf(w, i, j, shape) {
  const list = [];
  for (const a of axisTaps(w, 0, i, shape[1])) {
    for (const b of axisTaps(w, 1, j, shape[2])) {
      const r = a.r, s = b.r;
      list.push({ p: a.p, q: b.p, r, s, inside: r >= 0 && r < shape[1] && s >= 0 && s < shape[2] });
    }
  }
  return list;
}
// an index as the page writes it: [c,i,j] for 2-D maps, [c,j] for 1-D maps, [f] for vectors
function idx(nd, ...v) {
  if (nd === 0) return "[" + v[v.length - 1] + "]";
  return "[" + (nd === 1 ? v.filter((x, n) => n !== v.length - 2) : v).join(",") + "]";
}
function convForward(l, o, i, j) {
  const layer = DATA.layers[l], w = layer.window, x = inputMap(l), W = array(layer.w);
  const B = layer.b ? array(layer.b).data[o] : 0, nd = w.nd;
  // C: the channels a filter reads, from c0 on (grouped: its group's; else every input channel)
  const [C, kh, kw] = [W.shape[1], w.kernel[0], w.kernel[1]], c0 = groupOf(layer, o) * W.shape[1];
  const taps = tapsOf(w, i, j, x.shape), channels = [];
  let total = 0;
  for (let k0 = 0; k0 < C; k0++) {
    const c = c0 + k0;
    const terms = taps.map((t) => {
      const a = t.inside ? x.at(c, t.r, t.s) : 0, k = W.data[((o * C + k0) * kh + t.p) * kw + t.q];
      return { t, a, k };
    });
    const sub = terms.reduce((acc, u) => acc + u.a * u.k, 0);
    total += sub;
    const text = terms.map((u) => (u.t.inside ? paren(u.a) : "0") + "·" + paren(u.k)).join(" + ");
    const symbols = terms.map((u) => (u.t.inside ? "A" + idx(nd, c, u.t.r, u.t.s) : "0") + "·W" +
      idx(nd, o, k0, u.t.p, u.t.q)).join(" + ");
    channels.push({ c, k: k0, terms, sub, text, symbols });
  }
  const value = total + B, G = w.groups || 1;
  const general = (nd === 1 ? "Z[o,j] = Σ_c Σ_q A[c, j·s+q·d−P]·W[o,c,q] + B[o]" :
    "Z[o,i,j] = Σ_c Σ_p Σ_q A[c, i·s+p·d−P, j·s+q·d−P]·W[o,c,p,q] + B[o]") + (G === 1 ? "" :
    `\n  groups ${G}: filter o reads input channels g·${C} .. g·${C}+${C - 1} of its group g = ⌊o / ${layer.shape[0] / G}⌋ ` +
    `(here g = ${c0 / C}: A[${c0}..${c0 + C - 1}]), W[o,c] the kernel of its c-th one`);
  const pick = (v) => (nd === 1 ? String(v[1]) : v.join(","));
  const numbers = `s = ${pick(w.stride)}, d = ${pick(w.dilation)}, P = ${pick(w.pad)}`;
  return { kind: "conv", o, i, j, value, bias: B, channels, general: general + "   (" + numbers + ")",
    total: "Z" + idx(nd, o, i, j) + " = " + channels.map((ch) => paren(ch.sub)).join(" + ") +
      (layer.b ? " + " + paren(B) : "") + " = " + number(value) };
}
// The group of filter o of a convolution (0 unless grouped).
function groupOf(layer, o) {
  const G = layer.window.groups || 1;
  return Math.floor(o / (layer.shape[0] / G));
}
// A residual sum Y = A + B of two maps of one shape.
function addForward(l, c, i, j) {
  const layer = DATA.layers[l], a = inputMap(l).at(c, i, j), b = inputMap(l, true).at(c, i, j);
  const u = idx(layer.nd, c, i, j), value = a + b, [from, skip] = layer.operands;
  return { kind: "add", value, a, b, general: `Y = A + B   (A: ${from}; B: ${skip})`,
    text: `Y${u} = A${u} + B${u} = ${number(a)} + ${paren(b)} = ${number(value)}` };
}
// Flatten: output unit f is input unit (c, i, j), f = (c·H + i)·W + j.
function flattenUnit(layer, f) {
  const [, H, W] = layer.in_shape;
  return [Math.floor(f / (H * W)), Math.floor(f / W) % H, f % W];
}
function flattenForward(l, f) {
  const layer = DATA.layers[l], [c, i, j] = flattenUnit(layer, f), [, H, W] = layer.in_shape;
  const value = map(layerRow(l).x).at(c, i, j), u = idx(layer.in_nd, c, i, j);
  const rule = layer.in_nd === 1 ? `f = c·${W} + j = ${c}·${W} + ${j}` : `f = (c·${H} + i)·${W} + j = (${c}·${H} + ${i})·${W} + ${j}`;
  return { kind: "flatten", value, unit: [c, i, j], text: `Y[${f}] = A${u} = ${number(value)}   (${rule})` };
}
function poolForward(l, c, i, j) {
  const layer = DATA.layers[l], w = layer.window, x = inputMap(l), nd = w.nd;
  const taps = tapsOf(w, i, j, x.shape).filter((t) => t.inside);
  const vals = taps.map((t) => x.at(c, t.r, t.s));
  let value, winner = null, text;
  if (w.reducer === "mean") {
    let divisor = taps.length;
    if (w.count_pad) {
      const all = tapsOf(w, i, j, x.shape);
      divisor = all.filter((t) => t.r >= -w.pad[0] && t.r < x.shape[1] + w.pad_after[0] &&
        t.s >= -w.pad[1] && t.s < x.shape[2] + w.pad_after[1]).length;
    }
    value = vals.reduce((a, b) => a + b, 0) / divisor;
    text = "(" + vals.map(number).join(" + ") + ") / " + divisor;
    winner = null;
    taps.divisor = divisor;
  } else {
    // the winner (PyTorch's rule, the engine's): the first tap in row-major window order reaching the max (min)
    // of the taps inside the input (padding never wins); a NaN wins its window, the last NaN
    const best = w.reducer === "max" ? Math.max(...vals) : Math.min(...vals);
    winner = taps[Number.isNaN(best) ? vals.findLastIndex((v) => Number.isNaN(v)) : vals.indexOf(best)];
    taps.ties = vals.filter((v) => v === best).length;
    value = best;
    text = w.reducer + "(" + vals.map(number).join(", ") + ")";
  }
  const all = tapsOf(w, i, j, x.shape), size = [1 + Math.max(...all.map((t) => t.p)), 1 + Math.max(...all.map((t) => t.q))];
  return { kind: "pool", value, winner, taps, vals, size, general: w.adaptive ? adaptiveText(layer, i, j, all) : null,
    text: "Y" + idx(nd, c, i, j) + " = " + text + " = " + number(value) };
}
// Which inputs an adaptive pool's unit reads, with PyTorch's rule for its window along each axis.
function adaptiveText(layer, i, j, taps) {
  const w = layer.window, [, H, W] = layer.in_shape;
  const axis = (name, pos, size, out, list) => `${name} ⌊${pos}·${size}/${out}⌋ = ${Math.min(...list)} .. ` +
    `⌈${pos + 1}·${size}/${out}⌉ − 1 = ${Math.max(...list)}`;
  const rows = axis("rows", i, H, w.out[0], taps.map((t) => t.r)), cols = axis("columns", j, W, w.out[1], taps.map((t) => t.s));
  return "adaptive window: output i reads inputs ⌊i·in/out⌋ .. ⌈(i+1)·in/out⌉ − 1 along each axis\n  " +
    (w.nd === 1 ? cols : rows + ", " + cols) + ` (${taps.length} inputs)`;
}
function act(name, slope, v) {
  if (name === "ReLU") return Math.max(v, 0);
  if (name === "LeakyReLU") return v > 0 ? v : slope * v;
  if (name === "Sigmoid") return 1 / (1 + Math.exp(-v));
  return Math.tanh(v);
}
function actForward(l, c, i, j) {
  const layer = DATA.layers[l], x = inputMap(l), v = x.at(c, i, j), a = layer.act;
  const value = act(a.name, a.slope, v), u = idx(layer.nd, c, i, j);
  const rule = { ReLU: `max(0, ${number(v)})`, LeakyReLU: v > 0 ? number(v) : `${a.slope}·${paren(v)}`,
    Sigmoid: `1 / (1 + exp(${paren(-v)}))`, Tanh: `tanh(${number(v)})` }[a.name];
  return { kind: "act", value, input: v, text: `Y${u} = ${a.name}(A${u}) = ${rule} = ${number(value)}` };
}
// Batch norm with its running statistics: Y = (A − mean)/√(var + ε)·γ + β, per channel.
function bnForward(l, c, i, j) {
  const layer = DATA.layers[l], v = inputMap(l).at(c, i, j), p = layer.bn, u = idx(layer.nd, c, i, j);
  const root = Math.sqrt(p.var[c] + p.eps), value = (v - p.mean[c]) / root * p.gamma[c] + p.beta[c];
  return { kind: "bn", value, input: v, local: p.gamma[c] / root,
    general: "Y[c,i,j] = (A[c,i,j] − mean[c]) / √(var[c] + ε)·γ[c] + β[c]   (the running statistics)",
    text: `Y${u} = (${number(v)} − ${paren(p.mean[c])}) / √(${number(p.var[c])} + ${number(p.eps)})·` +
      `${paren(p.gamma[c])} + ${paren(p.beta[c])} = ${number(value)}` };
}
function folded(n, fold, term) {
  const groups = [];
  for (let start = 0; start < n; start += fold) {
    const parts = [];
    let sub = 0;
    for (let f = start; f < Math.min(n, start + fold); f++) {
      const [a, b, s] = term(f);
      sub += a * b;
      parts.push(s);
    }
    groups.push({ start, end: Math.min(n, start + fold) - 1, sub, text: parts.join(" + ") });
  }
  return groups;
}
function linearForward(l, o) {
  const layer = DATA.layers[l], x = array(layerRow(l).x).data, W = array(layer.w), F = W.shape[1];
  const B = layer.b ? array(layer.b).data[o] : 0;
  const groups = folded(F, layer.fold, (f) => [x[f], W.data[o * F + f], paren(x[f]) + "·" + paren(W.data[o * F + f])]);
  const value = groups.reduce((a, g) => a + g.sub, 0) + B;
  return { kind: "linear", value, groups, bias: B, general: "Z[o] = Σ_f A[f]·W[o,f] + B[o]",
    total: `Z[${o}] = ` + groups.map((g) => paren(g.sub)).join(" + ") + (layer.b ? " + " + paren(B) : "") +
      " = " + number(value) };
}
function forwardUnit(l, c, i, j) {
  const kind = DATA.layers[l].kind;
  if (kind === "conv") return convForward(l, c, i, j);
  if (kind === "pool") return poolForward(l, c, i, j);
  if (kind === "act") return actForward(l, c, i, j);
  if (kind === "bn") return bnForward(l, c, i, j);
  if (kind === "linear") return linearForward(l, j);
  if (kind === "add") return addForward(l, c, i, j);
  if (kind === "flatten") return flattenForward(l, j);
  return null;
}
function softmax(img) {
  const z = Array.from(array(img.logits).data), top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top)), sum = e.reduce((a, b) => a + b, 0);
  return { z, e, sum, p: e.map((v) => v / sum) };
}

// ------------------------------------------------------------------ backward sums
// What a convolution's backward reads. A whole layer: its input x and dL/dZ g of every filter (dL/dW is
// computed here for every channel of the filter's group). A sampled layer (layer.back): the whole input maps
// of the back channels (xw) and dL/dZ of its first back.filters filters (gz), the engine's dL/dW of those
// filters for their group's first back.shown channels (dw), and the engine's dL/dA through the other filters
// at the back channels × the sampled input rows × columns (ra).
function convSources(l) {
  const layer = DATA.layers[l];
  if (!layer.sample) {
    const x = map(layerRow(l).x), g = map(gradRow(l).g);
    return { x, g, filters: g.shape[0], channels: [...Array(x.shape[0]).keys()], engineW: null, rest: null };
  }
  const b = layer.back, s = layer.sample, xw = map(layerRow(l).xw), dw = array(gradRow(l).dw), ra = map(gradRow(l).ra);
  const [kh, kw] = layer.window.kernel;
  const x = { shape: layer.in_shape, at: (c, r, q) => {
    if (!b.channels.includes(c)) throw new Error(`A[${c}] is not embedded whole`);
    return xw.at(b.channels.indexOf(c), r, q);
  } };
  return { x, g: map(gradRow(l).gz), filters: b.filters, channels: b.channels,
    engineW: (o, k, p, q) => dw.data[((o * b.shown + k) * kh + p) * kw + q], // the engine's dL/dW[o,k,p,q], k < shown
    rest: (c, r, q) => ra.at(b.channels.indexOf(c), s.in_rows.indexOf(r), s.in_cols.indexOf(q)) };
}
// dL/dW of filter o (a whole layer: every channel of its group; a sampled one: the engine's, for its first
// channels, and the correlation written out for the group's first channel), and the chain rule for one
// input unit the window of (o, i, j) reads: input channel c (any, or a back channel of a sampled layer) at
// tap t of the window (the t-th tap inside the input, in row-major order)
function convBackward(l, o, i, j, c = state.pick.c, t = state.pick.t) {
  const layer = DATA.layers[l], w = layer.window, src = convSources(l), x = src.x, g = src.g;
  const W = array(layer.w), [C, kh, kw] = [x.shape[0], w.kernel[0], w.kernel[1]], [, OH, OW] = g.shape;
  const Cg = W.shape[1], Og = layer.shape[0] / (w.groups || 1), first = groupOf(layer, o) * Cg; // a group's channels, filters
  const written = o < src.filters; // dL/dZ[o] embedded whole: its dL/dW can be written out
  // dL/dW[o,c,p,q] = Σ_a Σ_b A[c, a·s+p·d−P, b·s+q·d−P]·dL/dZ[o,a,b]   (dL/dW = X ⋆ dL/dO)
  const correlation = (c, p, q) => {
    let sum = 0;
    for (let a = 0; a < OH; a++) {
      for (let b = 0; b < OW; b++) {
        const r = a * w.stride[0] + p * w.dilation[0] - w.pad[0], s = b * w.stride[1] + q * w.dilation[1] - w.pad[1];
        if (r >= 0 && r < x.shape[1] && s >= 0 && s < x.shape[2]) sum += x.at(c, r, s) * g.at(o, a, b);
      }
    }
    return sum;
  };
  const gridOf = (f) => Array.from({ length: kh }, (_, p) => Array.from({ length: kw }, (_, q) => f(p, q)));
  let dW = null, pageW = null;
  if (!layer.sample) dW = Array.from({ length: Cg }, (_, k) => gridOf((p, q) => correlation(first + k, p, q)));
  else if (written) {
    dW = Array.from({ length: layer.back.shown }, (_, k) => gridOf((p, q) => src.engineW(o, k, p, q)));
    pageW = gridOf((p, q) => correlation(first, p, q)); // the correlation of the group's first channel, written out
  }
  const rows = []; // the written-out sum of dL/dW[o,first,0,0], one row of dL/dZ at a time
  for (let a = 0; written && a < OH; a++) {
    const parts = [];
    let sub = 0;
    for (let b = 0; b < OW; b++) {
      const r = a * w.stride[0] - w.pad[0], s = b * w.stride[1] - w.pad[1];
      const v = r >= 0 && r < x.shape[1] && s >= 0 && s < x.shape[2] ? x.at(first, r, s) : 0;
      sub += v * g.at(o, a, b);
      parts.push(paren(v) + "·" + paren(g.at(o, a, b)));
    }
    rows.push({ a, sub, text: parts.join(" + ") });
  }
  // the chain rule for the picked input unit of the clicked window: every output whose window reads it,
  // written out for the filters whose dL/dZ is embedded whole (a sampled layer: the others' sum by the engine)
  const taps = tapsOf(w, i, j, x.shape).filter((u) => u.inside);
  const t0 = Math.max(0, Math.min(t, taps.length - 1)), tap = taps[t0] || { r: 0, s: 0 };
  const [c0, r0, s0] = [src.channels.includes(c) ? c : src.channels[0], tap.r, tap.s];
  const groups = [];
  let dA = 0;
  const from = Math.floor(c0 / Cg) * Og, to = Math.min(from + Og, src.filters); // the filters reading c0: its group's
  for (let oo = from; oo < to; oo++) {
    const parts = [];
    let sub = 0;
    for (let p = 0; p < kh; p++) {
      for (let q = 0; q < kw; q++) {
        const u = r0 + w.pad[0] - p * w.dilation[0], v = s0 + w.pad[1] - q * w.dilation[1];
        if (u % w.stride[0] || v % w.stride[1]) continue;
        const a = u / w.stride[0], b = v / w.stride[1];
        if (a < 0 || a >= OH || b < 0 || b >= OW) continue;
        const k = W.data[((oo * Cg + c0 % Cg) * kh + p) * kw + q]; // W[oo, c0 within its group, p, q]
        sub += g.at(oo, a, b) * k;
        parts.push(paren(g.at(oo, a, b)) + "·" + paren(k));
      }
    }
    dA += sub;
    groups.push({ o: oo, sub, text: parts.join(" + ") });
  }
  const rest = src.rest && to < from + Og ? { filters: [Math.max(from, to), from + Og - 1], value: src.rest(c0, r0, s0) } : null;
  return { kind: "conv", dW, pageW, rows, written, grad: gradAt(l, o, i, j), channels: src.channels, first,
    filters: [from, from + Og - 1], back: src.filters,
    dA: { pos: [c0, r0, s0], tap: t0, taps: taps.map((u) => [u.p, u.q, u.r, u.s]), value: dA + (rest ? rest.value : 0),
      written: dA, rest, groups } };
}
function backwardUnit(l, c, i, j) {
  const layer = DATA.layers[l];
  if (layer.sample && layer.kind === "conv" && !layer.back) return { kind: "sampled", grad: gradAt(l, c, i, j) };
  if (layer.kind === "conv") return convBackward(l, c, i, j);
  if (layer.kind === "flatten") {
    const grad = map(gradRow(l).g).at(0, 0, j), [c0, i0, j0] = flattenUnit(layer, j);
    const u = idx(layer.in_nd, c0, i0, j0);
    return { kind: "flatten", grad, value: grad, unit: [c0, i0, j0],
      text: `dL/dA${u} = dL/dY[${j}] = ${number(grad)}   (the same unit, reshaped)` };
  }
  if (layer.kind === "add") {
    const grad = gradAt(l, c, i, j), u = idx(layer.nd, c, i, j);
    return { kind: "add", grad, value: grad, text: `dL/dA${u} = dL/dB${u} = dL/dY${u} = ${number(grad)}   ` +
      "(a sum passes its gradient to both operands: A's layer and the skip connection B)" };
  }
  if (layer.kind === "linear" || !["act", "pool", "bn"].includes(layer.kind)) return linearOrNothing(l, j);
  const grad = gradAt(l, c, i, j), x = inputMap(l);
  if (layer.kind === "bn") {
    const f = bnForward(l, c, i, j), u = idx(layer.nd, c, i, j);
    return { kind: "bn", grad, value: grad * f.local, text: `dL/dA${u} = dL/dY${u}·γ[${c}]/√(var[${c}] + ε) = ` +
      `${paren(grad)}·${number(f.local)} = ${number(grad * f.local)}` };
  }
  if (layer.kind === "act") {
    const v = x.at(c, i, j), a = layer.act;
    const local = a.name === "ReLU" ? (v > 0 ? 1 : 0) : a.name === "LeakyReLU" ? (v > 0 ? 1 : a.slope) :
      a.name === "Sigmoid" ? act("Sigmoid", 0, v) * (1 - act("Sigmoid", 0, v)) : 1 - Math.tanh(v) ** 2;
    const u = idx(layer.nd, c, i, j);
    return { kind: "act", grad, value: grad * local,
      text: `dL/dA${u} = dL/dY${u}·f'(A${u}) = ${paren(grad)}·${number(local)} = ${number(grad * local)}` };
  }
  if (layer.kind === "pool") {
    const f = poolForward(l, c, i, j), u = idx(layer.nd, c, i, j);
    if (f.winner) {
      const tie = f.taps.ties > 1 ? `; ${f.taps.ties} inputs tie, the first in row-major order wins (as PyTorch)` : "";
      return { kind: "pool", grad, value: grad, to: [c, f.winner.r, f.winner.s],
        text: `dL/dY${u} = ${number(grad)} goes to the ${layer.window.reducer} of the ` +
        `window, A${idx(layer.nd, c, f.winner.r, f.winner.s)} = ${number(f.vals[f.taps.indexOf(f.winner)])}${tie}; ` +
        "the other inputs of the window get 0 from it" };
    }
    const n = f.taps.divisor;
    return { kind: "pool", grad, value: grad / n, text: `dL/dY${u} = ${number(grad)} is spread evenly: each input ` +
      `of the window gets ${paren(grad)} / ${n} = ${number(grad / n)}` };
  }
  return null;
}
function linearOrNothing(l, j) {
  const layer = DATA.layers[l];
  if (layer.kind === "linear") {
    const W = array(layer.w), [O, F] = W.shape, dz = array(gradRow(l).g).data, xs = array(layerRow(l).x).data;
    const groups = folded(O, 16, (o) => [dz[o], W.data[o * F], paren(dz[o]) + "·" + paren(W.data[o * F])]);
    const dA = groups.reduce((a, b) => a + b.sub, 0);
    return { kind: "linear", grad: dz[j], o: j, dW0: dz[j] * xs[0], dA: { value: dA, groups },
      text: `dL/dB[${j}] = dL/dZ[${j}] = ${number(dz[j])};  dL/dW[${j},f] = dL/dZ[${j}]·A[f], e.g. ` +
        `dL/dW[${j},0] = ${paren(dz[j])}·${paren(xs[0])} = ${number(dz[j] * xs[0])}` };
  }
  return null;
}

// ------------------------------------------------------------------ the unit view
function grid(values, label, marks) {
  const box = el("div", "grid");
  box.appendChild(el("div", "cap", label));
  const table = el("table");
  values.forEach((row, r) => {
    const tr = el("tr");
    row.forEach((v, c) => {
      const td = el("td", v === null ? "pad" : marks && marks(r, c) ? "mark" : "", v === null ? "0" : number(v));
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  box.appendChild(table);
  return box;
}
function details(summary, body) {
  const d = el("details");
  d.appendChild(el("summary", null, summary));
  d.appendChild(el("pre", null, body));
  return d;
}
function renderUnit() {
  const box = document.getElementById("unit");
  box.textContent = "";
  const u = state.unit;
  if (!u) return null;
  if (u.softmax) return renderSoftmax(box);
  const layer = DATA.layers[u.l], back = state.tab === "backward";
  const where = `${layer.name} ${layer.op}, unit ${idx(layer.nd, u.c, u.i, u.j)}`;
  box.appendChild(el("h2", null, (back ? "Backward: " : "") + where));
  if (!layer.clickable) {
    box.appendChild(el("p", "note", layer.kind === "other" ? `no unit view for ${layer.op}: its maps only` :
      "this layer's numbers are over the page's budget of exact numbers: its maps only (its sums were checked " +
      "in Python on a sample of units)"));
    return null;
  }
  if (layer.sample) {
    box.appendChild(el("p", "note sampled", "Over the page's budget of exact numbers, this layer keeps a sample: " +
      sampleText(layer) + "." + (u.snapped ? ` ${u.snapped} is not sampled: the nearest sampled unit is shown.` : "")));
  }
  const result = back ? backwardUnit(u.l, u.c, u.i, u.j) : forwardUnit(u.l, u.c, u.i, u.j);
  if (!back && result && "value" in result) { // the sum recomputed here against the engine's output
    const e = engineAt(u.l, u.c, u.i, u.j);
    box.appendChild(el("p", "check", `page: ${number(result.value)} · engine: ${number(e)} ` +
      (Math.abs(result.value - e) <= 1e-5 * (1 + Math.abs(e)) ? "✓" : "✗")));
  }
  if (back) showBackward(box, layer, u, result); else showForward(box, layer, u, result);
  return result;
}
function showForward(box, layer, u, f) {
  const x = inputMap(u.l);
  if (f.kind === "conv") {
    box.appendChild(el("pre", "general", f.general));
    const W = array(layer.w), w = layer.window;
    const grids = el("div", "grids");
    for (const ch of f.channels.slice(0, SHOWN_CHANNELS)) {
      const win = [], ker = [];
      for (let p = 0; p < w.kernel[0]; p++) {
        win.push([]); ker.push([]);
        for (let q = 0; q < w.kernel[1]; q++) {
          const t = ch.terms[p * w.kernel[1] + q];
          win[p].push(t.t.inside ? t.a : null);
          ker[p].push(W.data[((u.c * W.shape[1] + ch.k) * w.kernel[0] + p) * w.kernel[1] + q]);
        }
      }
      const pair = el("div", "pair");
      pair.appendChild(grid(win, `A[${ch.c}] window`));
      pair.appendChild(el("span", "times", "·"));
      pair.appendChild(grid(ker, `W[${u.c},${ch.k}]`));
      grids.appendChild(pair);
    }
    const read = f.channels.length;
    if (read > SHOWN_CHANNELS) grids.appendChild(el("span", "more", `+${read - SHOWN_CHANNELS} more channels`));
    box.appendChild(grids);
    box.appendChild(el("pre", "total", f.total));
    for (const ch of f.channels) {
      const line = `channel ${ch.c}: ${ch.symbols}\n  = ${ch.text}\n  = ${number(ch.sub)}`;
      if (f.channels.length === 1 && ch.terms.length <= 9) box.appendChild(el("pre", null, line));
      else box.appendChild(details(`channel ${ch.c}: subtotal ${number(ch.sub)} (${ch.terms.length} terms)`, line));
    }
  } else if (f.kind === "pool") {
    const win = []; // the unit's own window (an adaptive pool's windows vary in size)
    if (f.general) box.appendChild(el("pre", "general", f.general));
    for (let p = 0; p < f.size[0]; p++) {
      win.push([]);
      for (let q = 0; q < f.size[1]; q++) {
        const k = f.taps.findIndex((t) => t.p === p && t.q === q);
        win[p].push(k < 0 ? null : f.vals[k]);
      }
    }
    box.appendChild(grid(win, `A[${u.c}] window`, (p, q) => f.winner && f.winner.p === p && f.winner.q === q));
    box.appendChild(el("pre", "total", f.text));
  } else if (f.kind === "act" || f.kind === "flatten") {
    box.appendChild(el("pre", "total", f.text));
  } else if (f.kind === "add") {
    box.appendChild(el("pre", "general", f.general));
    box.appendChild(el("pre", "total", f.text));
  } else if (f.kind === "bn") {
    box.appendChild(el("pre", "general", f.general));
    box.appendChild(el("pre", "total", f.text));
  } else if (f.kind === "linear") {
    box.appendChild(el("pre", "general", f.general));
    box.appendChild(el("pre", "total", f.total));
    for (const g of f.groups) {
      box.appendChild(details(`A[${g.start}..${g.end}]: subtotal ${number(g.sub)}`, g.text + "\n  = " + number(g.sub)));
    }
  }
}
function showBackward(box, layer, u, b) {
  if (!b) return;
  if (b.kind === "sampled") {
    box.appendChild(el("pre", "total", `dL/dZ${idx(layer.nd, u.c, u.i, u.j)} = ${number(b.grad)} (autograd)`));
    box.appendChild(el("p", "note", "dL/dW of this filter (X ⋆ dL/dO) and the chain rule into the input need " +
      "whole maps of the input and of dL/dZ: this sampled layer is over the page's budget for them, so its " +
      "backward view stops here."));
    return;
  }
  if (b.kind === "conv") {
    const o = u.c, nd = layer.nd, back = layer.back;
    box.appendChild(el("pre", "general", `dL/dZ${idx(nd, o, u.i, u.j)} = ${number(b.grad)} (autograd)\n` +
      "dL/dW[o,c,p,q] = Σ_i Σ_j A[c, i·s+p·d−P, j·s+q·d−P]·dL/dZ[o,i,j]   (dL/dW = X ⋆ dL/dO)"));
    if (back) {
      box.appendChild(el("p", "note sampled", `Backward of a sampled layer: the page embeds dL/dZ of filters ` +
        `0..${back.filters - 1} whole and the input channel${back.channels.length > 1 ? "s" : ""} ` +
        `${back.channels.join(", ")} whole: dL/dW is the engine's for the first ${back.shown} channels of the ` +
        "filter's group and written out for the group's first channel; the chain rule is written out through " +
        `filters 0..${back.filters - 1}, the other filters' terms summed by the engine into one number.`));
    }
    if (!b.written) {
      box.appendChild(el("p", "note", `dL/dW of filter ${o}: its dL/dZ is not embedded whole (filters ` +
        `0..${back.filters - 1} are); the chain rule below is.`));
    } else {
      const grids = el("div", "grids");
      const shown = Math.min(SHOWN_CHANNELS, b.dW.length);
      b.dW.slice(0, shown).forEach((g, c) => grids.appendChild(grid(g, `dL/dW[${o},${c}]` +
        (b.first ? ` (A[${b.first + c}])` : "") + (back ? " engine" : ""))));
      const more = (back ? layer.in_shape[0] / (layer.window.groups || 1) : b.dW.length) - shown;
      if (more > 0) grids.appendChild(el("span", "more", `+${more} more` + (back ? " (not embedded)" : "")));
      box.appendChild(grids);
      if (b.pageW) { // the correlation written out for the group's first channel, against the engine's dL/dW
        const [e, v] = [b.dW[0][0][0], b.pageW[0][0]];
        box.appendChild(grid(b.pageW, `dL/dW[${o},0] = A[${b.first}] ⋆ dL/dZ[${o}], written out here`));
        box.appendChild(el("p", "check", `dL/dW${idx(nd, o, 0, 0, 0)}: page ${number(v)} · engine ${number(e)} ` +
          (Math.abs(v - e) <= 1e-5 * (1 + Math.abs(e)) ? "✓" : "✗")));
      }
      const first = b.pageW ? b.pageW[0][0] : b.dW[0][0][0];
      box.appendChild(details(`dL/dW${idx(nd, o, 0, 0, 0)} = ${number(first)}, written out row by row`,
        b.rows.map((r) => `row ${r.a}: ${r.text}\n  = ${number(r.sub)}`).join("\n")));
    }
    const [c0, r0, s0] = b.dA.pos;
    box.appendChild(pickControls(layer, b));
    box.appendChild(el("pre", "general", `dL/dA${idx(nd, c0, r0, s0)} = Σ_o Σ over the outputs whose windows ` +
      "read it of dL/dZ[o, i, j]·W[o, c, p, q]   (the rot180 kernel reading the gradient)"));
    for (const g of b.dA.groups) {
      if (g.text) box.appendChild(details(`o = ${g.o}: subtotal ${number(g.sub)}`, g.text + "\n  = " + number(g.sub)));
    }
    const r = b.dA.rest;
    if (r) {
      box.appendChild(el("pre", null, `o = ${r.filters[0]}..${r.filters[1]}: ${number(r.value)}   (their terms summed ` +
        "by the engine's autograd: their dL/dZ is not embedded whole)"));
    }
    box.appendChild(el("pre", "total", `dL/dA${idx(nd, c0, r0, s0)} = ` +
      (r ? `${number(b.dA.written)} + ${paren(r.value)} = ` : "") + number(b.dA.value)));
  } else if (b.kind === "linear") {
    box.appendChild(el("pre", "total", b.text));
    box.appendChild(el("pre", "general", "dL/dA[0] = Σ_o dL/dZ[o]·W[o,0]"));
    for (const g of b.dA.groups) box.appendChild(details(`o = ${g.start}..${g.end}: ${number(g.sub)}`, g.text));
    box.appendChild(el("pre", "total", `dL/dA[0] = ${number(b.dA.value)}`));
  } else {
    box.appendChild(el("pre", "total", b.text));
  }
}
// which input unit the chain rule is written for: any input channel, any position of the window inside the input
function pickControls(layer, b) {
  const bar = el("p", "pick"), nd = layer.nd;
  const channel = el("select"), position = el("select");
  channel.id = "pick-channel";
  position.id = "pick-tap";
  for (const c of b.channels) {
    const opt = el("option", null, String(c));
    opt.value = c;
    channel.appendChild(opt);
  }
  b.dA.taps.forEach(([p, q, r, s], n) => {
    const opt = el("option", null, `W${idx(nd, "o", "c", p, q)} reads A${idx(nd, "c", r, s)}`);
    opt.value = n;
    position.appendChild(opt);
  });
  channel.value = String(b.dA.pos[0]);
  position.value = String(b.dA.tap);
  const change = () => pick(Number(channel.value), Number(position.value));
  channel.addEventListener("change", change);
  position.addEventListener("change", change);
  bar.appendChild(el("span", null, "chain rule for input channel "));
  bar.appendChild(channel);
  bar.appendChild(el("span", null, " at "));
  bar.appendChild(position);
  return bar;
}
function pick(c, t) {
  state.pick = { c, t };
  return renderUnit();
}
function renderSoftmax(box) {
  const img = image(), s = softmax(img), back = state.tab === "backward";
  box.appendChild(el("h2", null, "Softmax"));
  box.appendChild(el("pre", "general", "p_k = exp(z_k − max z) / Σ_j exp(z_j − max z)" +
    (back ? `\ndL/dz_k = p_k − [k = ${state.cls}]   (L = −log p_${state.cls})` : "")));
  const order = s.p.map((p, k) => k).sort((a, b) => s.p[b] - s.p[a]).slice(0, 10);
  const lines = order.map((k) => `${DATA.names[k]}: z = ${number(s.z[k])}, exp = ${number(s.e[k])}, ` +
    `p = ${number(s.e[k])} / ${number(s.sum)} = ${number(s.p[k])}` +
    (back ? `, dL/dz = ${number(s.p[k] - (k === state.cls ? 1 : 0))}` : ""));
  box.appendChild(el("pre", "total", lines.join("\n")));
  return s;
}

// ------------------------------------------------------------------ controls
function renderControls() {
  const bar = document.getElementById("images");
  bar.textContent = "";
  DATA.images.forEach((img, n) => {
    const b = el("button", n === state.image ? "active" : "", img.name);
    b.dataset.image = n;
    b.addEventListener("click", () => setImage(n));
    bar.appendChild(b);
  });
  const sel = document.getElementById("class");
  sel.textContent = "";
  for (const k of image().classes) {
    const opt = el("option", null, DATA.names[k] + (k === image().pred ? " (predicted)" : ""));
    opt.value = k;
    sel.appendChild(opt);
  }
  sel.value = String(state.cls);
  document.getElementById("classlabel").hidden = state.tab !== "backward";
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === state.tab));
}
function setImage(n) {
  state.image = n;
  state.cls = image().pred;
  render();
}
function render() {
  renderControls();
  renderOverview();
  if (state.unit && !state.unit.softmax) select(state.unit.l, state.unit.c, state.unit.i, state.unit.j);
  else renderUnit();
}
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
  state.tab = b.dataset.tab;
  render();
}));
document.getElementById("class").addEventListener("change", (ev) => {
  state.cls = Number(ev.target.value);
  render();
});
document.getElementById("notes").textContent = `${DATA.budget.clickable} of ${DATA.budget.layers} layers ` +
  `have every shown unit's numbers embedded for clicks` +
  (DATA.budget.sampled ? `, ${DATA.budget.sampled} more a sample of units (listed below)` : "") +
  `; thumbnails show at most ${MAXC} channels, at most ` +
  `${DATA.budget.thumb_side} units a side, one byte a number. Every sum the page writes out was checked ` +
  `against the engine before the page was written (${DATA.checked.forward || 0} forward units, ` +
  `${DATA.checked.backward || 0} gradient entries, ${DATA.checked.sampled || 0} sampled units). ` +
  `${DATA.notes.join("; ")}`;
if (DATA.budget.sampled) { // which units of the sampled layers can be clicked
  const d = el("details");
  d.appendChild(el("summary", null, `${DATA.budget.sampled} layers over the budget keep a sample of ` +
    "clickable units (a click elsewhere snaps to the nearest)"));
  const lines = DATA.layers.filter((layer) => layer.sample).map((layer) => `layer ${layer.name}: ` +
    sampleText(layer));
  d.appendChild(el("pre", null, lines.join("\n")));
  document.getElementById("notes").appendChild(d);
}
state.cls = image().pred;
render();

window.kwm = { state, select, pick, convBackward, showDots, forwardUnit, backwardUnit, softmax, thumbValues, setImage, render, map, array, engineAt,
  setTab: (t) => { state.tab = t; render(); }, setClass: (k) => { state.cls = k; render(); } };
