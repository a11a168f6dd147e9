// The script of the ``--html`` page (kernelwise.explain.render_html inlines it; no network requests).
//
// A small re-implementation of the window walk for one channel (convolution forward and backward,
// max/mean/min pooling forward and backward) that writes the same equation text and numbers as
// kernelwise.explain.symbolic, so that the page can recompute when a control changes. The initial
// numbers come from the engine (the JSON of the element with id "kw-data"); tests/test_explain_html.py
// checks in Chromium that this script's numbers and equation texts equal the engine's and Python's.
"use strict";
// JSON has no infinities: finite_json writes them (and NaN) as the strings "inf", "-inf", "nan"
const NON_FINITE = { inf: Infinity, "-inf": -Infinity, nan: NaN };
const DATA = JSON.parse(document.getElementById("kw-data").textContent,
  (key, v) => (typeof v === "string" && v in NON_FINITE ? NON_FINITE[v] : v));
const N = DATA.names;
const G = (name) => "dL/d" + name;
const COPY = (m) => m.map((row) => row.slice());

// Numbers as Python's kernelwise.explain.symbolic.number prints them.
function strip(m) { return m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m; }
function number(v) {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v === 0 ? 0 : v);
  const [mant, ex] = v.toExponential(3).split("e");
  const e = Number(ex);
  if (e < -4 || e >= 4) return strip(mant) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  return strip(v.toFixed(3 - e));
}

const state = {
  tab: "forward", step: 0, playing: null, nd: DATA.nd,
  settings: JSON.parse(JSON.stringify(DATA.settings)),
  input: COPY(DATA.input), kernel: DATA.kernel ? COPY(DATA.kernel) : null, grad: COPY(DATA.grad),
  bias: DATA.bias || 0, reducer: DATA.reducers ? DATA.reducers[0] : null, error: null,
};

// ------------------------------------------------------------------ the window walker
function outSize(n, k, s, p, d) { return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1; }
function geometry() {
  const st = state.settings, size = [state.input.length, state.input[0].length];
  const out = [0, 1].map((i) => outSize(size[i], st.kernel[i], st.stride[i], st.padding[i], st.dilation[i]));
  return { size, kernel: st.kernel, stride: st.stride, padding: st.padding, dilation: st.dilation, out };
}
function taps(g, o) {
  const list = [];
  for (let i = 0; i < g.kernel[0]; i++) {
    for (let j = 0; j < g.kernel[1]; j++) {
      const r = o[0] * g.stride[0] + i * g.dilation[0] - g.padding[0];
      const c = o[1] * g.stride[1] + j * g.dilation[1] - g.padding[1];
      list.push({ tap: [i, j], pos: [r, c], inside: r >= 0 && r < g.size[0] && c >= 0 && c < g.size[1] });
    }
  }
  return list;
}
function outputs(g) {
  const list = [];
  for (let r = 0; r < g.out[0]; r++) for (let c = 0; c < g.out[1]; c++) list.push([r, c]);
  return list;
}

// ------------------------------------------------------------------ equations (same text as Python)
const sym = (name, r, c, pad) => ({ name, r, c, pad: !!pad });
function symText(s) {
  if (s.pad) return "0";
  if (s.bare) return s.name;
  return s.name + "[" + (state.nd === 2 ? (s.r + 1) + "," + (s.c + 1) : String(s.c + 1)) + "]";
}
function arrays() {
  const a = {};
  a[N.x] = state.input; a[N.w] = state.kernel; a[G(N.y)] = state.grad; a[N.b] = state.bias;
  return a;
}
function value(s, env) { if (s.pad) return 0; const v = env[s.name]; return s.bare ? v : v[s.r][s.c]; }
function operand(s, env, inProduct) {
  if (!env) return symText(s);
  const t = number(value(s, env));
  return inProduct && t.startsWith("-") ? "(" + t + ")" : t;
}
function termText(t, env, div) {
  const body = t.f.map((s) => operand(s, env, t.f.length > 1)).join("·");
  return div === 1 ? body : body + "/" + div;
}
function rhs(eq, env) {
  if (eq.op === "max" || eq.op === "min") return eq.op + "(" + eq.terms.map((t) => termText(t, env,
    t.div)).join(", ") + ")";
  if (!eq.terms.length && !eq.bias) return "0";
  const divs = new Set(eq.terms.map((t) => t.div));
  const common = divs.size === 1 && eq.terms.length > 1 && eq.terms[0].div > 1 ? eq.terms[0].div : 1;
  let body = eq.terms.map((t) => termText(t, env, common > 1 ? 1 : t.div)).join(" + ");
  if (common > 1) body = "(" + body + ") / " + common;
  if (eq.bias) { const b = operand(eq.bias, env, false); body = body ? body + " + " + b : b; }
  return env ? body.split("+ -").join("- ") : body;
}
function evaluate(eq, env) {
  const vals = eq.terms.map((t) => t.f.reduce((p, s) => p * value(s, env), 1) / t.div);
  if (eq.op === "max") return Math.max(...vals);
  if (eq.op === "min") return Math.min(...vals);
  return vals.reduce((a, b) => a + b, 0) + (eq.bias ? value(eq.bias, env) : 0);
}
const eqText = (eq) => symText(eq.lhs) + " = " + rhs(eq, null);

function convForward(g) {
  return outputs(g).map((o) => ({
    lhs: sym(N.y, o[0], o[1]), op: "sum", bias: DATA.use_bias ? { name: N.b, bare: true } : null,
    terms: taps(g, o).map((t) => ({ f: [sym(N.x, t.pos[0], t.pos[1], !t.inside), sym(N.w, t.tap[0], t.tap[1])],
      div: 1 })),
  }));
}
function convGradWeight(g) {
  const eqs = [];
  for (let i = 0; i < g.kernel[0]; i++) {
    for (let j = 0; j < g.kernel[1]; j++) eqs.push({ lhs: sym(G(N.w), i, j), op: "sum", terms: [] });
  }
  for (const o of outputs(g)) {
    for (const t of taps(g, o)) {
      eqs[t.tap[0] * g.kernel[1] + t.tap[1]].terms.push({ f: [sym(G(N.y), o[0], o[1]), sym(N.x, t.pos[0],
        t.pos[1], !t.inside)], div: 1 });
    }
  }
  return eqs;
}
function inputEquations(g) {
  const eqs = [];
  for (let r = 0; r < g.size[0]; r++) {
    for (let c = 0; c < g.size[1]; c++) eqs.push({ lhs: sym(G(N.x), r, c), op: "sum", terms: [] });
  }
  return eqs;
}
function convGradInput(g) {
  const eqs = inputEquations(g);
  for (const o of outputs(g)) {
    for (const t of taps(g, o)) {
      if (t.inside) eqs[t.pos[0] * g.size[1] + t.pos[1]].terms.push({ f: [sym(G(N.y), o[0], o[1]), sym(N.w,
        t.tap[0], t.tap[1])], div: 1 });
    }
  }
  return eqs;
}
function winner(g, o, reducer) {
  let best = null;
  for (const t of taps(g, o)) {
    if (!t.inside) continue;
    const v = state.input[t.pos[0]][t.pos[1]];
    if (best === null || (reducer === "max" ? v > best.v : v < best.v)) best = { v, pos: t.pos };
  }
  return best.pos;
}
function poolForward(g, reducer) {
  return outputs(g).map((o) => {
    const all = taps(g, o);
    if (reducer === "mean") {
      return { lhs: sym(N.y, o[0], o[1]), op: "sum", terms: all.map((t) => ({ f: [sym(N.x, t.pos[0], t.pos[1],
        !t.inside)], div: all.length })) };
    }
    return { lhs: sym(N.y, o[0], o[1]), op: reducer, terms: all.filter((t) => t.inside).map((t) => ({
      f: [sym(N.x, t.pos[0], t.pos[1])], div: 1 })) };
  });
}
function poolGradInput(g, reducer) {
  const eqs = inputEquations(g);
  for (const o of outputs(g)) {
    const all = taps(g, o);
    if (reducer === "mean") {
      for (const t of all) if (t.inside) eqs[t.pos[0] * g.size[1] + t.pos[1]].terms.push({ f: [sym(G(N.y), o[0],
        o[1])], div: all.length });
    } else {
      const p = winner(g, o, reducer);
      eqs[p[0] * g.size[1] + p[1]].terms.push({ f: [sym(G(N.y), o[0], o[1])], div: 1 });
    }
  }
  return eqs;
}

// ------------------------------------------------------------------ computing everything
function fill(rows, cols, old, f) {
  const m = [];
  for (let r = 0; r < rows; r++) {
    m.push([]);
    for (let c = 0; c < cols; c++) m[r].push(old && r < old.length && c < old[0].length ? old[r][c] : f(r, c));
  }
  return m;
}
function matrix(eqs, rows, cols, env) {
  const m = fill(rows, cols, null, () => 0);
  for (const eq of eqs) m[eq.lhs.r][eq.lhs.c] = evaluate(eq, env);
  return m;
}
function validate(g) {
  const st = state.settings;
  for (const k of ["kernel", "stride", "dilation"]) {
    if (st[k].some((v) => !(v >= 1))) return k + " must be at least 1";
  }
  if (st.padding.some((v) => !(v >= 0))) return "padding must be at least 0";
  if (g.out.some((n) => n < 1)) return "the kernel does not fit: output size " + g.out.join("×") +
    " (make the kernel, dilation or stride smaller)";
  if (DATA.mode === "pool") {
    const half = st.padding.some((p, i) => p > Math.floor(st.kernel[i] / 2));
    if (half) return "padding must be at most half the kernel size (as PyTorch)";
    const dilated = st.dilation.some((d) => d !== 1);
    if (state.reducer === "mean" && dilated) return "mean pooling has no dilation (as PyTorch's avg_pool)";
  }
  return null;
}
function compute() {
  const g = geometry();
  state.g = g;
  state.error = validate(g);
  if (state.error) { state.forward = []; state.backward = []; return state; }
  if (!(state.grad.length === g.out[0] && state.grad[0].length === g.out[1])) {
    state.grad = fill(g.out[0], g.out[1], null, (r, c) => ((r * 3 + c * 5) % 5) - 2);
  }
  const env = arrays();
  if (DATA.mode === "conv") {
    state.forward = convForward(g);
    state.backward = convGradWeight(g).concat(convGradInput(g));
    state.output = matrix(state.forward, g.out[0], g.out[1], env);
    state.grad_weight = matrix(convGradWeight(g), g.kernel[0], g.kernel[1], env);
    state.grad_input = matrix(convGradInput(g), g.size[0], g.size[1], env);
  } else {
    state.forward = poolForward(g, state.reducer);
    state.backward = poolGradInput(g, state.reducer);
    state.output = matrix(state.forward, g.out[0], g.out[1], env);
    state.grad_input = matrix(state.backward, g.size[0], g.size[1], env);
  }
  return state;
}
function formulaLines(g) {
  const dims = state.nd === 2 ? [["height", "H"], ["width", "W"]] : [["length", "L"]];
  const lines = [];
  dims.forEach(([long, short], k) => {
    const i = state.nd === 2 ? k : 1;
    const n = g.size[i], kk = g.kernel[i], s = g.stride[i], p = g.padding[i], d = g.dilation[i];
    const lhs = "Output " + long, span = n + 2 * p - d * (kk - 1) - 1, out = Math.floor(span / s) + 1;
    const general = d === 1 ? "floor((" + short + "_in - " + short + "_k + 2P) / S) + 1"
      : "floor((" + short + "_in - d·(" + short + "_k - 1) - 1 + 2P) / S) + 1";
    const filled = d === 1 ? "floor((" + n + " - " + kk + " + 2·" + p + ") / " + s + ") + 1"
      : "floor((" + n + " - " + d + "·(" + kk + " - 1) - 1 + 2·" + p + ") / " + s + ") + 1";
    lines.push(lhs + " = " + general, " ".repeat(lhs.length) + " = " + filled + " = floor(" + span + " / " + s +
      ") + 1 = " + out);
  });
  return lines;
}

// ------------------------------------------------------------------ drawing
function grid(name, label, values, pad, padValue, op) {
  return { name, label, values, pad: pad || [0, 0], padValue: padValue === undefined ? 0 : padValue, op: op || "" };
}
function grids() {
  const g = state.g, p = state.nd === 2 ? g.padding : [0, g.padding[1]];
  const padValue = DATA.mode === "pool" ? { max: -Infinity, min: Infinity, mean: 0 }[state.reducer] : 0;
  const input = grid(N.x, "Input " + N.x + (p[0] || p[1] ? " (padded)" : ""), state.input, p, padValue);
  if (state.tab === "forward") {
    if (DATA.mode === "conv") return [{ ...input, op: "⋆" }, grid(N.w, "Kernel " + N.w, state.kernel, null, 0,
      "="), grid(N.y, "Output " + N.y, state.output)];
    return [{ ...input, op: "→" }, grid(N.y, state.reducer + " " + N.y, state.output)];
  }
  const list = [input, grid(G(N.y), G(N.y), state.grad)];
  if (DATA.mode === "conv") list.push(grid(N.w, "Kernel " + N.w, state.kernel), grid(G(N.w), G(N.w),
    state.grad_weight));
  list.push(grid(G(N.x), G(N.x), state.grad_input));
  return list;
}
function cellOf(gr, s) {
  if (s.name !== gr.name || s.bare) return null;
  return [s.r + gr.pad[0], s.c + gr.pad[1]];
}
function render() {
  compute();
  document.getElementById("error").textContent = state.error || "";
  const box = document.getElementById("grids");
  box.innerHTML = "";
  const eqs = state.tab === "forward" ? state.forward : state.backward;
  const slider = document.getElementById("step");
  slider.max = Math.max(eqs.length - 1, 0);
  state.step = Math.min(state.step, Math.max(eqs.length - 1, 0));
  slider.value = state.step;
  document.getElementById("steplabel").textContent = eqs.length ? "step " + (state.step + 1) + " of " +
    eqs.length : "";
  if (state.error) {
    document.getElementById("equation").textContent = "";
    document.getElementById("outsize").textContent = "";
    return;
  }
  document.getElementById("outsize").textContent = formulaLines(state.g).join("\n");
  const eq = eqs[state.step];
  const env = arrays();
  for (const gr of grids()) {
    const hl = new Map();
    if (eq) {
      for (const t of eq.terms) {
        t.f.forEach((s, k) => {
          const c = cellOf(gr, s);
          if (c && !hl.has(c.join())) hl.set(c.join(), "hl-" + Math.min(k, 1));  // first / second factor
        });
      }
      const c = cellOf(gr, eq.lhs);
      if (c) hl.set(c.join(), "hl-out");
    }
    const rows = gr.values.length + 2 * gr.pad[0], cols = gr.values[0].length + 2 * gr.pad[1];
    const wrap = document.createElement("div");
    wrap.className = "grid";
    wrap.dataset.name = gr.name;
    const table = document.createElement("table");
    const cap = document.createElement("caption");
    cap.textContent = gr.label;
    table.appendChild(cap);
    for (let r = 0; r < rows; r++) {
      const tr = document.createElement("tr");
      for (let c = 0; c < cols; c++) {
        const td = document.createElement("td");
        const rr = r - gr.pad[0], cc = c - gr.pad[1];
        const inside = rr >= 0 && rr < gr.values.length && cc >= 0 && cc < gr.values[0].length;
        td.textContent = number(inside ? gr.values[rr][cc] : gr.padValue);
        td.dataset.r = r; td.dataset.c = c;
        const classes = [];
        if (!inside) classes.push("pad");
        if (hl.has(r + "," + c)) classes.push(hl.get(r + "," + c));
        td.className = classes.join(" ");
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    wrap.appendChild(table);
    box.appendChild(wrap);
    if (gr.op) {
      const op = document.createElement("span");
      op.className = "op";
      op.textContent = gr.op;
      box.appendChild(op);
    }
  }
  if (eq) {
    const numbers = rhs(eq, env), val = number(evaluate(eq, env));
    const pad = " ".repeat(symText(eq.lhs).length + 1);
    const lines = [eqText(eq)];
    if (numbers !== rhs(eq, null)) lines.push(pad + "= " + numbers);
    if (val !== numbers) lines.push(pad + "= " + val);
    document.getElementById("equation").textContent = lines.join("\n");
  }
  document.getElementById("check").textContent = checkText();
}
function same(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  return a.every((row, r) => row.length === b[r].length && row.every((v, c) =>
    v === b[r][c] || Math.abs(v - b[r][c]) <= 1e-9 * (1 + Math.abs(b[r][c]))));  // ∞ equals ∞
}
function checkText() {
  const e = DATA.mode === "conv" ? DATA.engine : DATA.engine[state.reducer];
  const changed = JSON.stringify([state.settings, state.input]) !== JSON.stringify([DATA.settings, DATA.input]);
  if (changed) return "recomputed in this page for the new settings";
  const ok = same(state.output, e.output) && same(state.grad_input, e.grad_input) && (DATA.mode !== "conv" ||
    same(state.grad_weight, e.grad_weight));
  return ok ? "✓ these numbers equal the kernelwise engine's (forward and autograd)" :
    "✗ differs from the engine's numbers";
}

// ------------------------------------------------------------------ controls
function setStep(n) { state.step = Math.max(0, Number(n)); render(); }
function setSetting(name, v) {
  v = Number(v);
  if (name === "size") {
    const rows = state.nd === 2 ? v : 1;
    state.input = fill(rows, v, state.input, (r, c) => (r * 7 + c * 3) % 10);
  } else if (state.nd === 2) {
    state.settings[name] = [v, v];
  } else {
    state.settings[name] = [state.settings[name][0], v];
  }
  if (name === "kernel" && state.kernel) {
    const k = state.settings.kernel;
    state.kernel = fill(k[0], k[1], state.kernel, (r, c) => ((r + 2 * c) % 5) - 2);
  }
  render();
}
function setTab(t) {
  state.tab = t;
  state.step = 0;
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === t);
  render();
}
function play() {
  const button = document.getElementById("play");
  if (state.playing) { clearInterval(state.playing); state.playing = null; button.textContent = "▶ play"; return; }
  button.textContent = "❚❚ pause";
  state.playing = setInterval(() => {
    const eqs = state.tab === "forward" ? state.forward : state.backward;
    setStep(eqs.length ? (state.step + 1) % eqs.length : 0);
  }, 800);
}
function init() {
  for (const name of ["kernel", "stride", "padding", "dilation"]) {
    const el = document.getElementById(name);
    el.value = state.settings[name][state.nd === 2 ? 0 : 1];
    el.addEventListener("change", () => setSetting(name, el.value));
  }
  const size = document.getElementById("size");
  size.value = state.input[0].length;
  size.addEventListener("change", () => setSetting("size", size.value));
  const reducer = document.getElementById("reducer");
  if (DATA.mode === "pool") {
    for (const r of DATA.reducers) {
      const o = document.createElement("option");
      o.value = r;
      o.textContent = r;
      reducer.appendChild(o);
    }
    reducer.addEventListener("change", () => { state.reducer = reducer.value; render(); });
  } else {
    reducer.parentElement.style.display = "none";
  }
  document.getElementById("step").addEventListener("input", (e) => setStep(e.target.value));
  document.getElementById("prev").addEventListener("click", () => setStep(state.step - 1));
  document.getElementById("next").addEventListener("click", () => setStep(state.step + 1));
  document.getElementById("play").addEventListener("click", play);
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => setTab(b.dataset.tab));
  render();
}
window.kw = { DATA, state, number, compute, render, setSetting, setStep, setTab, eqText, rhs, arrays, formulaLines };
init();
