// The script of the ``--html`` page (kernelwise.explain.render_html inlines it; no network requests).
//
// A small re-implementation of the window walk (convolution forward and backward with any number of
// input channels and filters, max/mean/min pooling forward and backward, stride as downsampling, the
// transposed convolution) that writes the same equation text and numbers as kernelwise.explain.symbolic,
// so that the page can recompute when a control changes. The initial numbers come from the engine (the
// JSON of the element with id "kw-data"); tests/test_explain_html.py checks in Chromium that this
// script's numbers and equation texts equal the engine's and Python's.
//
// Legend: C input channels, O output channels (filters), k kernel size, s stride, P = (P_before, P_after)
// padding, d dilation. Arrays are nested lists: input A (C, H, W), kernel W (O, C, kh, kw) (transposed
// convolution: (C_in, C_out, kh, kw)), bias B (O), output Z and its gradient dL/dZ (O, oh, ow).
// A 1-D signal is one row (k = 1, s = 1, P = 0, d = 1 along the rows).
"use strict";
// JSON has no infinities: finite_json writes them (and NaN) as the strings "inf", "-inf", "nan"
const NON_FINITE = { inf: Infinity, "-inf": -Infinity, nan: NaN };
const DATA = JSON.parse(document.getElementById("kw-data").textContent,
  (key, v) => (typeof v === "string" && v in NON_FINITE ? NON_FINITE[v] : v));
const N = DATA.names;
const G = (name) => "dL/d" + name;
const CLONE = (m) => structuredClone(m);  // keeps ∞ (JSON would make it null)
const MODE = DATA.mode;  // "conv", "stride", "pool" or "transpose"

// Numbers as Python's kernelwise.explain.symbolic.number prints them.
function strip(m) { return m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m; }
function number(v) {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v === 0 ? 0 : v);
  const [mant, ex] = v.toExponential(3).split("e");
  const e = Number(ex);
  if (e < -4 || e >= 4) return strip(mant) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  return strip(v.toFixed(3 - e));
}

const state = {
  tab: "forward", step: 0, playing: null, nd: DATA.nd, filter: 0,
  settings: CLONE(DATA.settings),
  input: CLONE(DATA.input), kernel: DATA.kernel ? CLONE(DATA.kernel) : null,
  grad: DATA.grad ? CLONE(DATA.grad) : null, bias: DATA.bias ? CLONE(DATA.bias) : null,
  reducer: DATA.reducers ? DATA.reducers[0] : null, error: null,
};

// ------------------------------------------------------------------ nested arrays
// zeros([2, 3, 4]) is a 2×3×4 nested list; at(a, [1, 2, 0]) = a[1][2][0]
function zeros(shape) {
  if (!shape.length) return 0;
  return Array.from({ length: shape[0] }, () => zeros(shape.slice(1)));
}
function at(a, index) { return index.reduce((v, i) => v[i], a); }
function put(a, index, v) { at(a, index.slice(0, -1))[index[index.length - 1]] = v; }
// a 2-D map of rows × cols that keeps the entries of old where they fit and fills the rest with f(r, c)
function fill(rows, cols, old, f) {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) =>
    (old && r < old.length && c < old[0].length ? old[r][c] : f(r, c))));
}

// ------------------------------------------------------------------ the window walker
// output size per dim: floor((n + P_before + P_after - d·(k - 1) - 1) / s) + 1
function outSize(n, k, s, p, d) { return Math.floor((n + p[0] + p[1] - d * (k - 1) - 1) / s) + 1; }
// transposed convolution: (n - 1)·s - 2P + d·(k - 1) + output_padding + 1
function transposeSize(n, k, s, p, d, op) { return (n - 1) * s - p[0] - p[1] + d * (k - 1) + op + 1; }
function geometry() {
  const st = state.settings, first = state.input[0], given = [first.length, first[0].length];
  const dims = [0, 1];
  // the transposed convolution walks the windows of the convolution whose input gradient it is:
  // that convolution's input is the transposed output, its output is X
  const size = MODE === "transpose" ? dims.map((i) => transposeSize(given[i], st.kernel[i], st.stride[i],
    st.padding[i], st.dilation[i], st.output_padding[i])) : given;
  const out = MODE === "transpose" ? given : dims.map((i) => outSize(size[i], st.kernel[i], st.stride[i],
    st.padding[i], st.dilation[i]));
  const [C, O] = st.channels;
  return { size, kernel: st.kernel, stride: st.stride, padding: st.padding, dilation: st.dilation, out, C, O };
}
// the taps of the window of output o: input position o·s + t·d - P_before under tap t
function taps(g, o) {
  const list = [];
  for (let i = 0; i < g.kernel[0]; i++) {
    for (let j = 0; j < g.kernel[1]; j++) {
      const r = o[0] * g.stride[0] + i * g.dilation[0] - g.padding[0][0];
      const c = o[1] * g.stride[1] + j * g.dilation[1] - g.padding[1][0];
      list.push({ tap: [i, j], pos: [r, c], inside: r >= 0 && r < g.size[0] && c >= 0 && c < g.size[1] });
    }
  }
  return list;
}
function positions(shape) {
  const list = [];
  for (let r = 0; r < shape[0]; r++) for (let c = 0; c < shape[1]; c++) list.push([r, c]);
  return list;
}

// ------------------------------------------------------------------ equations (same text as Python)
// A symbol is one entry of a named array: lead = its channel indices, pos = [row, column] (none for B).
const sym = (name, lead, pos, pad) => ({ name, lead, r: pos ? pos[0] : null, c: pos ? pos[1] : null, pad: !!pad });
// the sizes of each array's channel dims; a channel dim of size 1 is not printed (A[1,1], not A[1,1,1])
function leads() {
  const [C, O] = state.settings.channels, l = {};
  if (MODE === "transpose") {
    l[N.x] = [C]; l[N.w] = [C, O]; l[N.y] = [O];
    l[G(N.x)] = [C]; l[G(N.w)] = [C, O]; l[G(N.y)] = [O];
  } else {
    l[N.x] = [C]; l[N.w] = [O, C]; l[N.y] = [O]; l[N.b] = [O]; l.Y = [O];
    l[G(N.x)] = [C]; l[G(N.w)] = [O, C]; l[G(N.y)] = [O]; l["dL/dY"] = [O];
  }
  return l;
}
function symText(s) {
  if (s.pad) return "0";
  const sizes = leads()[s.name] || [];
  const shown = s.lead.filter((_, k) => sizes[k] > 1);
  if (s.r !== null) shown.push(...(state.nd === 2 ? [s.r, s.c] : [s.c]));
  return shown.length ? s.name + "[" + shown.map((i) => i + 1).join(",") + "]" : s.name;
}
function arrays() {
  const a = { Y: state.stride1, "dL/dY": state.grad_stride1 };
  a[N.x] = state.input; a[N.w] = state.kernel; a[G(N.y)] = state.grad; a[N.b] = state.bias;
  if (MODE === "transpose") a[N.y] = state.output;
  return a;
}
function value(s, env) {
  if (s.pad) return 0;
  return at(env[s.name], s.r === null ? s.lead : [...s.lead, s.r, s.c]);
}
function operand(s, env, inProduct) {
  if (!env) return symText(s);
  const t = number(value(s, env));
  return inProduct && t.startsWith("-") ? "(" + t + ")" : t;
}
function termText(t, env, div) {
  const body = t.f.map((s) => operand(s, env, t.f.length > 1)).join("·");
  return div === 1 ? body : body + "/" + div;
}
// the right-hand side: max/min(...), or a sum (one bracket per input channel) with a common divisor and bias
function rhs(eq, env) {
  if (eq.op === "max" || eq.op === "min") {
    return eq.op + "(" + eq.terms.map((t) => termText(t, env, t.div)).join(", ") + ")";
  }
  if (!eq.terms.length && !eq.bias) return "0";
  const divs = new Set(eq.terms.map((t) => t.div));
  const common = divs.size === 1 && eq.terms.length > 1 && eq.terms[0].div > 1 ? eq.terms[0].div : 1;
  const groups = new Map();
  for (const t of eq.terms) {
    if (!groups.has(t.group)) groups.set(t.group, []);
    groups.get(t.group).push(termText(t, env, common > 1 ? 1 : t.div));
  }
  const sums = [...groups.values()].map((texts) => texts.join(" + "));
  let body = sums.length > 1 ? sums.map((s) => "(" + s + ")").join(" + ") : (sums[0] || "");
  if (common > 1) body = "(" + body + ") / " + common;
  if (eq.bias) { const b = operand(eq.bias, env, false); body = body ? body + " + " + b : b; }
  return env ? body.split("+ -").join("- ") : body;
}
function termValue(t, env) { return t.f.reduce((p, s) => p * value(s, env), 1) / t.div; }
function evaluate(eq, env) {
  const vals = eq.terms.map((t) => termValue(t, env));
  if (eq.op === "max") return Math.max(...vals);
  if (eq.op === "min") return Math.min(...vals);
  return vals.reduce((a, b) => a + b, 0) + (eq.bias ? value(eq.bias, env) : 0);
}
const eqText = (eq) => symText(eq.lhs) + " = " + rhs(eq, null);
const term = (f, div, group) => ({ f, div: div || 1, group: group || 0 });

// Z[o, p] = Σ_c Σ_t A[c, p·s + t·d - P]·W[o, c, t] + B[o]: one sum per input channel, one map per filter
function convForward(g) {
  const eqs = [];
  for (let o = 0; o < g.O; o++) {
    for (const p of positions(g.out)) {
      const terms = [];
      for (let c = 0; c < g.C; c++) {
        for (const t of taps(g, p)) terms.push(term([sym(N.x, [c], t.pos, !t.inside), sym(N.w, [o, c], t.tap)], 1, c));
      }
      eqs.push({ lhs: sym(N.y, [o], p), op: "sum", terms, bias: DATA.use_bias ? sym(N.b, [o]) : null });
    }
  }
  return eqs;
}
// dL/dW[o, c, t] = Σ_p dL/dZ[o, p]·A[c, p·s + t·d - P]: the input correlated with the output gradient
function convGradWeight(g) {
  const eqs = [];
  for (let o = 0; o < g.O; o++) {
    for (let c = 0; c < g.C; c++) {
      const mine = positions(g.kernel).map((t) => ({ lhs: sym(G(N.w), [o, c], t), op: "sum", terms: [] }));
      for (const p of positions(g.out)) {
        for (const t of taps(g, p)) {
          mine[t.tap[0] * g.kernel[1] + t.tap[1]].terms.push(term([sym(G(N.y), [o], p),
            sym(N.x, [c], t.pos, !t.inside)]));
        }
      }
      eqs.push(...mine);
    }
  }
  return eqs;
}
// dst[c, i] = Σ over (source channel k, output p, tap t) with p·s + t·d - P = i of src[k, p]·weight(k, c, t):
// the input gradient of a convolution, and the transposed convolution
function scatter(g, src, srcChannels, dst, dstChannels, weight) {
  const eqs = [];
  for (let c = 0; c < dstChannels; c++) {
    const mine = positions(g.size).map((i) => ({ lhs: sym(dst, [c], i), op: "sum", terms: [] }));
    for (let k = 0; k < srcChannels; k++) {
      for (const p of positions(g.out)) {
        for (const t of taps(g, p)) {
          if (t.inside) mine[t.pos[0] * g.size[1] + t.pos[1]].terms.push(term([sym(src, [k], p), weight(k, c, t.tap)]));
        }
      }
    }
    eqs.push(...mine);
  }
  return eqs;
}
// dL/dA[c, i] = Σ over (o, p, t) that reach i of dL/dZ[o, p]·W[o, c, t]
const convGradInput = (g) => scatter(g, G(N.y), g.O, G(N.x), g.C, (o, c, t) => sym(N.w, [o, c], t));
// Y[co, i] = Σ over (ci, p, t) with p·s + t·d - P = i of X[ci, p]·W[ci, co, t]
const transposeForward = (g) => scatter(g, N.x, g.C, N.y, g.O, (ci, co, t) => sym(N.w, [ci, co], t));

// the backward of the transposed convolution, every dL/dW entry then every dL/dX entry (Python's
// transpose_grad_equations): dL/dW[ci, co, t] = Σ_p X[ci, p]·dL/dY[co, p·s + t·d - P] (dL/dY correlated
// with X) and dL/dX[ci, p] = Σ_co Σ_t dL/dY[co, p·s + t·d - P]·W[ci, co, t] (the strided convolution of
// dL/dY with W)
function transposeGradWeight(g) {
  const eqs = [];
  for (let ci = 0; ci < g.C; ci++) {
    for (let co = 0; co < g.O; co++) {
      const mine = positions(g.kernel).map((t) => ({ lhs: sym(G(N.w), [ci, co], t), op: "sum", terms: [] }));
      for (const p of positions(g.out)) {
        for (const t of taps(g, p)) {
          mine[t.tap[0] * g.kernel[1] + t.tap[1]].terms.push(term([sym(N.x, [ci], p),
            sym(G(N.y), [co], t.pos, !t.inside)]));
        }
      }
      eqs.push(...mine);
    }
  }
  return eqs;
}
function transposeGradInput(g) {
  const eqs = [];
  for (let ci = 0; ci < g.C; ci++) {
    for (const p of positions(g.out)) {
      const terms = [];
      for (let co = 0; co < g.O; co++) {
        for (const t of taps(g, p)) terms.push(term([sym(G(N.y), [co], t.pos, !t.inside), sym(N.w, [ci, co], t.tap)], 1, co));
      }
      eqs.push({ lhs: sym(G(N.x), [ci], p), op: "sum", terms, bias: null });
    }
  }
  return eqs;
}

// the input that wins the window of output o in channel c (the first among ties, in tap order)
function winner(g, c, o, reducer) {
  let best = null;
  for (const t of taps(g, o)) {
    if (!t.inside) continue;
    const v = state.input[c][t.pos[0]][t.pos[1]];
    if (best === null || (reducer === "max" ? v > best.v : v < best.v)) best = { v, pos: t.pos };
  }
  return best.pos;
}
// Z[c, p] = max / mean / min of the window (padding: -∞ for max, +∞ for min never wins; 0 for mean, counted)
function poolForward(g, reducer) {
  const eqs = [];
  for (let c = 0; c < g.C; c++) {
    for (const o of positions(g.out)) {
      const all = taps(g, o);
      if (reducer === "mean") {
        eqs.push({ lhs: sym(N.y, [c], o), op: "sum", terms: all.map((t) => term([sym(N.x, [c], t.pos, !t.inside)],
          all.length)) });
      } else {
        eqs.push({ lhs: sym(N.y, [c], o), op: reducer, terms: all.filter((t) => t.inside).map((t) =>
          term([sym(N.x, [c], t.pos)])) });
      }
    }
  }
  return eqs;
}
// where each dL/dZ goes: to the winner of its window (max, min), or dL/dZ / (window size) to every input of
// it (mean); an input in several windows sums what it gets
function poolGradInput(g, reducer) {
  const eqs = [];
  for (let c = 0; c < g.C; c++) {
    const mine = positions(g.size).map((i) => ({ lhs: sym(G(N.x), [c], i), op: "sum", terms: [] }));
    const into = (pos) => mine[pos[0] * g.size[1] + pos[1]].terms;
    for (const o of positions(g.out)) {
      const all = taps(g, o);
      if (reducer === "mean") {
        for (const t of all) if (t.inside) into(t.pos).push(term([sym(G(N.y), [c], o)], all.length));
      } else {
        into(winner(g, c, o, reducer)).push(term([sym(G(N.y), [c], o)]));
      }
    }
    eqs.push(...mine);
  }
  return eqs;
}
// Z[o, p] = Y[o, p·s]: the strided output keeps every s-th entry of the stride-1 output
function downsample(g) {
  return convForward(g).map((eq) => ({ lhs: eq.lhs, op: "sum", terms: [term([sym("Y", eq.lhs.lead,
    [eq.lhs.r * g.stride[0], eq.lhs.c * g.stride[1]])])] }));
}

// ------------------------------------------------------------------ computing everything
function evaluateAll(eqs, shape, env) {
  const m = zeros(shape);
  for (const eq of eqs) put(m, [...eq.lhs.lead, eq.lhs.r, eq.lhs.c], evaluate(eq, env));
  return m;
}
function validate(g) {
  const st = state.settings;
  for (const k of ["kernel", "stride", "dilation"]) {
    if (st[k].some((v) => !(v >= 1))) return k + " must be at least 1";
  }
  if (st.padding.flat().some((v) => !(v >= 0))) return "padding must be at least 0";
  if (st.channels.some((v) => !(v >= 1))) return "channels must be at least 1";
  if (MODE === "transpose") {
    if (g.size.some((n) => n < 1)) return "the output size " + g.size.join("×") + " is not positive";
    const op = st.output_padding;
    if (op.some((v, i) => v >= st.stride[i] && v >= st.dilation[i])) {
      return "output_padding must be smaller than the stride or the dilation";
    }
    return null;
  }
  if (g.out.some((n) => n < 1)) return "the kernel does not fit: output size " + g.out.join("×") +
    " (make the kernel, dilation or stride smaller)";
  if (MODE === "pool") {
    const half = st.padding.some((p, i) => Math.max(...p) > Math.floor(st.kernel[i] / 2));
    if (half) return "padding must be at most half the kernel size (as PyTorch)";
    const dilated = st.dilation.some((d) => d !== 1);
    if (state.reducer === "mean" && dilated) return "mean pooling has no dilation (as PyTorch's avg_pool)";
  }
  return null;
}
// a stand-in dL/dZ of the right shape when the settings change it (the entries that still fit are kept)
function fitGrad(g) {
  const old = state.grad, O = MODE === "pool" ? g.C : g.O;
  const out = MODE === "transpose" ? g.size : g.out;  // dL/dY of a transposed convolution: its output's size
  const fits = old.length === O && old[0].length === out[0] && old[0][0].length === out[1];
  if (!fits) state.grad = Array.from({ length: O }, (_, o) => fill(out[0], out[1], null, (r, c) =>
    ((r * 3 + c * 5 + o) % 5) - 2));
}
function computeConv(g, env) {
  state.forward = convForward(g);
  state.backward = convGradWeight(g).concat(convGradInput(g));
  state.output = evaluateAll(state.forward, [g.O, ...g.out], env);
  state.grad_weight = evaluateAll(convGradWeight(g), [g.O, g.C, ...g.kernel], env);
  state.grad_input = evaluateAll(convGradInput(g), [g.C, ...g.size], env);
}
// stride: Y = the stride-1 output; Z keeps Y[p·s]; backward, dL/dY = dL/dZ with s - 1 zeros between entries
function computeStride(g, env) {
  const g1 = { ...g, stride: [1, 1] };
  g1.out = [0, 1].map((i) => outSize(g.size[i], g.kernel[i], 1, g.padding[i], g.dilation[i]));
  state.g1 = g1;
  state.stride1 = evaluateAll(convForward(g1), [g.O, ...g1.out], env);
  state.grad_stride1 = zeros([g.O, ...g1.out]);
  state.grad.forEach((m, o) => m.forEach((row, r) => row.forEach((v, c) => {
    state.grad_stride1[o][r * g.stride[0]][c * g.stride[1]] = v;
  })));
  state.downsample = downsample(g);
}
// the transposed convolution's stages: X with s - 1 zeros between entries (and output_padding at the end),
// padded by d·(k - 1) - P on every side, convolved (stride 1) with rot180(W)
function computeTranspose(g, env) {
  const st = state.settings, x = state.input;
  state.forward = transposeForward(g);
  const gradWeight = transposeGradWeight(g), gradInput = transposeGradInput(g);
  state.backward = gradWeight.concat(gradInput);
  state.grad_weight = evaluateAll(gradWeight, [g.C, g.O, ...g.kernel], env);
  state.grad_input = evaluateAll(gradInput, [g.C, ...g.out], env);
  const upSize = [0, 1].map((i) => (g.out[i] - 1) * g.stride[i] + 1 + st.output_padding[i]);
  state.upsampled = x.map((m) => {
    const up = zeros(upSize);
    m.forEach((row, r) => row.forEach((v, c) => { up[r * g.stride[0]][c * g.stride[1]] = v; }));
    return up;
  });
  state.border = [0, 1].map((i) => g.dilation[i] * (g.kernel[i] - 1) - g.padding[i][0]);
  state.padded = state.border.every((b) => b >= 0) ? state.upsampled.map((m) => fill(upSize[0] + 2 *
    state.border[0], upSize[1] + 2 * state.border[1], null, (r, c) => {
    const rr = r - state.border[0], cc = c - state.border[1];
    return rr >= 0 && rr < upSize[0] && cc >= 0 && cc < upSize[1] ? m[rr][cc] : 0;
  })) : null;
  state.rotated = state.kernel.map((row) => row.map((k) => k.slice().reverse().map((r) => r.slice().reverse())));
  state.output = evaluateAll(state.forward, [g.O, ...g.size], env);
}
function compute() {
  const g = geometry();
  state.g = g;
  state.error = validate(g);
  if (state.error) { state.forward = []; state.backward = []; return state; }
  if (MODE === "transpose") { fitGrad(g); computeTranspose(g, arrays()); return state; }
  fitGrad(g);
  if (MODE === "stride") computeStride(g, arrays());
  const env = arrays();
  if (MODE === "pool") {
    state.forward = poolForward(g, state.reducer);
    state.backward = poolGradInput(g, state.reducer);
    state.output = evaluateAll(state.forward, [g.C, ...g.out], env);
    state.grad_input = evaluateAll(state.backward, [g.C, ...g.size], env);
  } else {
    computeConv(g, env);
  }
  return state;
}
// the output-size formula of each dim with the numbers filled in (Python's Geometry.formulas lines)
function formulaLines(g) {
  const dims = state.nd === 2 ? [["height", "H"], ["width", "W"]] : [["length", "L"]];
  const lines = [];
  dims.forEach(([long, short], k) => {
    const i = state.nd === 2 ? k : 1, lhs = "Output " + long, indent = " ".repeat(lhs.length);
    const kk = g.kernel[i], s = g.stride[i], [lo, hi] = g.padding[i], d = g.dilation[i];
    if (MODE === "transpose") {
      const n = g.out[i], op = state.settings.output_padding[i];
      lines.push(lhs + " = (n - 1)·S - 2P + d·(k - 1) + output_padding + 1", indent + " = (" + n + " - 1)·" + s +
        " - 2·" + lo + " + " + d + "·(" + kk + " - 1) + " + op + " + 1 = " + g.size[i]);
      return;
    }
    const n = g.size[i], span = n + lo + hi - d * (kk - 1) - 1, out = Math.floor(span / s) + 1;
    const pad = lo === hi ? "2·" + lo : lo + " + " + hi, padSymbol = lo === hi ? "2P" : "P_before + P_after";
    const general = d === 1 ? "floor((" + short + "_in - " + short + "_k + " + padSymbol + ") / S) + 1"
      : "floor((" + short + "_in - d·(" + short + "_k - 1) - 1 + " + padSymbol + ") / S) + 1";
    const filled = d === 1 ? "floor((" + n + " - " + kk + " + " + pad + ") / " + s + ") + 1"
      : "floor((" + n + " - " + d + "·(" + kk + " - 1) - 1 + " + pad + ") / " + s + ") + 1";
    lines.push(lhs + " = " + general, indent + " = " + filled + " = floor(" + span + " / " + s + ") + 1 = " + out);
  });
  return lines;
}

// ------------------------------------------------------------------ what the page draws
// A grid: a 2-D map of one array (name, lead = its channel indices), drawn with its padding; "also" names
// other arrays whose highlighted cells land on the same positions (dL/dA[i] on A[i]); "classes" marks cells.
function grid(name, lead, label, values, extra) {
  return { name, lead, label, values, pad: [[0, 0], [0, 0]], padValue: 0, op: "", also: [], classes: null,
    ...extra };
}
function suffix(words, lead, sizes) {
  const parts = lead.map((i, k) => (sizes[k] > 1 ? words[k] + " " + (i + 1) : "")).filter(Boolean);
  return parts.length ? ", " + parts.join(", ") : "";
}
// a per-dim setting as Python's conv.show writes it: "2" when every dim agrees, else "(2, 1)"
function shown(setting) {
  const v = setting.slice(state.nd === 2 ? 0 : 1);
  return v.every((x) => x === v[0]) ? String(v[0]) : "(" + v.join(", ") + ")";
}
function padOf(g) { return state.nd === 2 ? g.padding : [[0, 0], g.padding[1]]; }
function current() {
  const eqs = state.tab === "forward" ? state.forward : state.backward;
  return eqs[state.step];
}
// the filter the grids show: the one of the highlighted output, else the one chosen
function shownFilter(eq) {
  if (eq && (eq.lhs.name === N.y || eq.lhs.name === G(N.w)) && MODE !== "pool") return eq.lhs.lead[0];
  return Math.min(state.filter, state.g.O - 1);
}
// per input channel c: the window of A[c] ⋆ the kernel slice W[o, c] = that channel's partial sums;
// then Σ over the channels + B = Z[o]
function convForwardRows(g, o) {
  const pad = padOf(g), rows = [], C = g.C, env = arrays();
  for (let c = 0; c < C; c++) {
    const padded = pad.flat().some(Boolean) ? " (padded)" : "";
    const label = "Input " + N.x + (C > 1 ? ", channel " + (c + 1) : "") + padded;
    const row = [grid(N.x, [c], label, state.input[c], { pad, op: "⋆" }),
      grid(N.w, [o, c], "Kernel " + N.w + suffix(["filter", "channel"], [o, c], [g.O, C]), state.kernel[o][c],
        { op: "=" })];
    if (C > 1) {
      const partial = state.forward.filter((eq) => eq.lhs.lead[0] === o).map((eq) => eq.terms.filter((t) =>
        t.group === c).reduce((a, t) => a + termValue(t, env), 0));
      const values = fill(g.out[0], g.out[1], null, (r, cc) => partial[r * g.out[1] + cc]);
      row.push(grid("partial", [o, c], "channel " + (c + 1) + "'s partial sums", values, { also: [N.y] }));
    } else {
      row.push(grid(N.y, [o], "Output " + N.y + suffix(["filter"], [o], [g.O]), state.output[o]));
    }
    rows.push(row);
  }
  if (C > 1) {
    rows.push([grid(N.y, [o], "Output " + N.y + suffix(["filter"], [o], [g.O]) + " = Σ over the " + C +
      " channels" + (DATA.use_bias ? " + " + symText(sym(N.b, [o])) : ""), state.output[o])]);
  }
  return rows;
}
// stride: the stride-1 output Y with the kept entries (p·s) marked and the dropped ones struck → Z
function strideRow(g, o) {
  const kept = (r, c) => (r % g.stride[0] === 0 && c % g.stride[1] === 0 ? "kept" : "dropped");
  return [grid("Y", [o], "Stride-1 output Y" + suffix(["filter"], [o], [g.O]) + " (struck: dropped)",
    state.stride1[o], { op: "→", classes: kept }),
  grid(N.y, [o], "Stride-" + shown(g.stride) + " output " + N.y, state.output[o])];
}
function convBackwardRows(g, o) {
  const pad = padOf(g), C = g.C, rows = [];
  rows.push(state.input.map((m, c) => grid(N.x, [c], "Input " + N.x + suffix(["channel"], [c], [C]), m, { pad })));
  const grads = state.grad.map((m, k) => grid(G(N.y), [k], G(N.y) + suffix(["filter"], [k], [g.O]), m));
  if (MODE === "stride") {
    grads.push(grid("dL/dY", [o], "dL/dY = dL/dZ with zeros inserted" + suffix(["filter"], [o], [g.O]),
      state.grad_stride1[o]));
  }
  rows.push(grads);
  rows.push(state.kernel[o].map((m, c) => grid(N.w, [o, c], "Kernel " + N.w + suffix(["filter", "channel"], [o, c],
    [g.O, C]), m)).concat(state.grad_weight[o].map((m, c) => grid(G(N.w), [o, c], G(N.w) + suffix(["filter",
    "channel"], [o, c], [g.O, C]), m))));
  rows.push(state.grad_input.map((m, c) => grid(G(N.x), [c], G(N.x) + suffix(["channel"], [c], [C]), m)));
  return rows;
}
// pooling, per channel: A (winners marked for max/min) → Z; backward: dL/dZ → dL/dA, the routed-to cell on A
function poolRows(g) {
  const pad = padOf(g), reducer = state.reducer, rows = [];
  const padValue = { max: -Infinity, min: Infinity, mean: 0 }[reducer];
  for (let c = 0; c < g.C; c++) {
    const wins = new Set(reducer === "mean" ? [] : positions(g.out).map((o) => winner(g, c, o, reducer).join()));
    const classes = (r, cc) => (wins.has((r - pad[0][0]) + "," + (cc - pad[1][0])) ? "win" : "");
    const input = grid(N.x, [c], "Input " + N.x + suffix(["channel"], [c], [g.C]) + (pad.flat().some(Boolean) ?
      " (padded)" : "") + (reducer === "mean" ? "" : ", winners boxed"), state.input[c],
    { pad, padValue, classes, also: [G(N.x)] });
    if (state.tab === "forward") {
      rows.push([{ ...input, op: "→" }, grid(N.y, [c], reducer + " " + N.y + suffix(["channel"], [c], [g.C]),
        state.output[c])]);
    } else {
      rows.push([input, grid(G(N.y), [c], G(N.y) + suffix(["channel"], [c], [g.C]), state.grad[c], { op: "→" }),
        grid(G(N.x), [c], G(N.x) + suffix(["channel"], [c], [g.C]), state.grad_input[c])]);
    }
  }
  return rows;
}
// transposed convolution, per input channel: X → zeros inserted → padded by d·(k - 1) - P ⋆ rot180(W) ; Σ → Y
function transposeRows(g, co) {
  const rows = [];
  for (let ci = 0; ci < g.C; ci++) {
    const ch = suffix(["channel"], [ci], [g.C]);
    const row = [grid(N.x, [ci], "Input " + N.x + ch, state.input[ci], { op: "→" }),
      grid("up", [ci], N.x + " with s - 1 zeros between entries" + ch + (state.padded ? "" :
        " (P > d·(k - 1): it would be cropped, not padded)"), state.upsampled[ci], { op: state.padded ? "→" : "" })];
    if (state.padded) {
      row.push(grid("full", [ci], "padded by d·(k - 1) - P = " + shown(state.border),
        state.padded[ci], { op: "⋆" }), grid("rot", [ci, co], "rot180(" + N.w + ")" + suffix(["in", "out"],
        [ci, co], [g.C, g.O]), state.rotated[ci][co], { op: ci === g.C - 1 ? "=" : "+" }));
    }
    rows.push(row);
  }
  rows.push([grid(N.y, [co], "Output " + N.y + suffix(["channel"], [co], [g.O]), state.output[co])]);
  return rows;
}
// the transposed convolution's backward: dL/dY (drawn with the padding its windows read), X and W, dL/dW, dL/dX
function transposeBackwardRows(g) {
  const pad = padOf(g), rows = [];
  rows.push(state.grad.map((m, co) => grid(G(N.y), [co], G(N.y) + suffix(["channel"], [co], [g.O]) +
    (pad.flat().some(Boolean) ? " (padded by P: the windows of the strided convolution)" : ""), m, { pad })));
  rows.push(state.input.map((m, ci) => grid(N.x, [ci], "Input " + N.x + suffix(["channel"], [ci], [g.C]), m)));
  for (let ci = 0; ci < g.C; ci++) {
    const names = (co) => suffix(["in", "out"], [ci, co], [g.C, g.O]);
    rows.push(state.kernel[ci].map((m, co) => grid(N.w, [ci, co], "Kernel " + N.w + names(co), m)).concat(
      state.grad_weight[ci].map((m, co) => grid(G(N.w), [ci, co], G(N.w) + names(co), m))));
  }
  rows.push(state.grad_input.map((m, ci) => grid(G(N.x), [ci], G(N.x) + suffix(["channel"], [ci], [g.C]) +
    " = the strided convolution of " + G(N.y) + " with " + N.w, m)));
  return rows;
}
function rows() {
  const g = state.g, eq = current();
  if (MODE === "pool") return poolRows(g);
  if (MODE === "transpose" && state.tab === "backward") return transposeBackwardRows(g);
  if (MODE === "transpose") return transposeRows(g, eq ? eq.lhs.lead[0] : 0);
  const o = shownFilter(eq);
  if (state.tab === "backward") return convBackwardRows(g, o);
  const list = convForwardRows(g, o);
  if (MODE === "stride") list.push(strideRow(g, o));
  return list;
}

// ------------------------------------------------------------------ highlighting
const sameLead = (a, b) => a.length === b.length && a.every((v, k) => v === b[k]);
// the cells of grid gr that the equation eq touches: "hl-0"/"hl-1" the first/second factor, "hl-out" the result
function highlights(gr, eq, g) {
  const hl = new Map();
  if (!eq) return hl;
  const mark = (r, c, cls) => {  // the first highlight of a cell stays
    const key = (r + gr.pad[0][0]) + "," + (c + gr.pad[1][0]);
    if (!hl.has(key)) hl.set(key, cls);
  };
  const mine = (s) => s.r !== null && (s.name === gr.name || gr.also.includes(s.name));
  for (const t of eq.terms) {
    t.f.forEach((s, k) => {
      if (mine(s) && sameLead(s.lead.slice(0, gr.lead.length), gr.lead)) mark(s.r, s.c, "hl-" + Math.min(k, 1));
    });
  }
  const lhs = eq.lhs;
  if (mine(lhs) && (gr.name === "partial" ? lhs.lead[0] === gr.lead[0] : sameLead(lhs.lead, gr.lead))) {
    hl.set((lhs.r + gr.pad[0][0]) + "," + (lhs.c + gr.pad[1][0]), "hl-out");
  }
  if (gr.name === "Y" && lhs.name === N.y && lhs.lead[0] === gr.lead[0]) {  // Z[p] = Y[p·s]
    hl.set(lhs.r * g.stride[0] + "," + lhs.c * g.stride[1], "hl-out");
  }
  if (MODE === "transpose" && state.tab === "forward") transposeHighlights(gr, eq, g, hl);
  if (MODE === "pool" && gr.name === N.x && lhs.name === G(N.x) && lhs.lead[0] === gr.lead[0]) {
    for (const t of eq.terms) {  // the windows whose gradient comes here
      for (const tap of taps(g, [t.f[0].r, t.f[0].c])) mark(tap.pos[0], tap.pos[1], "hl-1");
    }
  }
  return hl;
}
// Y[i] as the stride-1 convolution: the window at i + t·d of the padded grid, all of rot180(W); the
// entries of X it reads sit at p·s in the zero-inserted grid
function transposeHighlights(gr, eq, g, hl) {
  const ci = gr.lead[0];
  if (gr.name === "full") {
    for (const t of positions(g.kernel)) {
      hl.set((eq.lhs.r + t[0] * g.dilation[0]) + "," + (eq.lhs.c + t[1] * g.dilation[1]), "hl-0");
    }
  } else if (gr.name === "rot" && gr.lead[1] === eq.lhs.lead[0]) {
    for (const t of positions(g.kernel)) hl.set(t.join(), "hl-1");
  } else if (gr.name === "up") {
    for (const t of eq.terms) {
      const x = t.f[0];
      if (x.lead[0] === ci) hl.set((x.r * g.stride[0]) + "," + (x.c * g.stride[1]), "hl-0");
    }
  }
}

// ------------------------------------------------------------------ drawing
function drawGrid(gr, eq, g) {
  const hl = highlights(gr, eq, g);
  const rowsN = gr.values.length + gr.pad[0][0] + gr.pad[0][1];
  const cols = gr.values[0].length + gr.pad[1][0] + gr.pad[1][1];
  const wrap = document.createElement("div");
  wrap.className = "grid";
  wrap.dataset.name = gr.name;
  wrap.dataset.lead = gr.lead.join(",");
  const table = document.createElement("table");
  const cap = document.createElement("caption");
  cap.textContent = gr.label;
  table.appendChild(cap);
  for (let r = 0; r < rowsN; r++) {
    const tr = document.createElement("tr");
    for (let c = 0; c < cols; c++) {
      const td = document.createElement("td");
      const rr = r - gr.pad[0][0], cc = c - gr.pad[1][0];
      const inside = rr >= 0 && rr < gr.values.length && cc >= 0 && cc < gr.values[0].length;
      td.textContent = number(inside ? gr.values[rr][cc] : gr.padValue);
      td.dataset.r = r; td.dataset.c = c;
      const classes = [];
      if (!inside) classes.push("pad");
      if (gr.classes && gr.classes(r, c)) classes.push(gr.classes(r, c));
      if (hl.has(r + "," + c)) classes.push(hl.get(r + "," + c));
      td.className = classes.join(" ");
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  wrap.appendChild(table);
  return wrap;
}
// the equation: symbols, numbers, value; then per input channel its partial sum and the total
function equationLines(eq, env) {
  const numbers = rhs(eq, env), val = number(evaluate(eq, env));
  const pad = " ".repeat(symText(eq.lhs).length + 1);
  const lines = [eqText(eq)];
  if (numbers !== rhs(eq, null)) lines.push(pad + "= " + numbers);
  if (val !== numbers) lines.push(pad + "= " + val);
  const groups = [...new Set(eq.terms.map((t) => t.group))];
  if (eq.lhs.name === N.y && MODE !== "pool" && MODE !== "transpose" && groups.length > 1) {
    const partial = groups.map((c) => eq.terms.filter((t) => t.group === c).reduce((a, t) => a + termValue(t, env), 0));
    lines.push("");
    groups.forEach((c, k) => lines.push("channel " + (c + 1) + ": " + rhs({ ...eq, terms: eq.terms.filter((t) =>
      t.group === c), bias: null }, env) + " = " + number(partial[k])));
    const bias = eq.bias ? " + " + operand(eq.bias, env, false) : "";
    lines.push("total: " + (partial.map(number).join(" + ") + bias).split("+ -").join("- ") + " = " + val);
  }
  if (MODE === "pool" && eq.lhs.name === G(N.x)) lines.push(...routingLines(eq, env));
  if (MODE === "stride" && eq.lhs.name === N.y) {
    const kept = eqText(state.downsample[state.step]);
    lines.push("", "downsampling: " + kept + " (stride-1 output, intermediates dropped)");
  }
  return lines;
}
// pooling backward, one line per gradient that reaches dL/dA[i]: why it comes here
function routingLines(eq, env) {
  const g = state.g, target = symText({ ...eq.lhs, name: N.x });
  if (!eq.terms.length) return ["", target + " wins no window and is in no mean's window: it gets 0"];
  return [""].concat(eq.terms.map((t) => {
    const z = t.f[0], grad = symText(z) + " = " + number(value(z, env));
    const window = state.forward[z.lead[0] * g.out[0] * g.out[1] + z.r * g.out[1] + z.c];
    const output = symText({ ...z, name: N.y });
    if (state.reducer === "mean") {
      return grad + " → " + grad.split(" = ")[0] + "/" + t.div + " to each of the " + t.div + " inputs of " +
        output + "'s window, this one among them";
    }
    return grad + " → all of it here: " + target + " = " + number(value({ ...eq.lhs, name: N.x }, env)) +
      " wins " + output + " = " + rhs(window, env);
  }));
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
  if (MODE !== "pool" && MODE !== "transpose") {
    state.filter = shownFilter(eq);
    document.getElementById("filter").value = state.filter;
  }
  for (const row of rows()) {
    const line = document.createElement("div");
    line.className = "row";
    for (const gr of row) {
      line.appendChild(drawGrid(gr, eq, state.g));
      if (gr.op) {
        const op = document.createElement("span");
        op.className = "op";
        op.textContent = gr.op;
        line.appendChild(op);
      }
    }
    box.appendChild(line);
  }
  document.getElementById("equation").textContent = eq ? equationLines(eq, arrays()).join("\n") : "";
  document.getElementById("check").textContent = checkText();
}
// nested lists equal up to rounding (∞ equals ∞)
function same(a, b) {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, k) => same(v, b[k]));
  }
  return a === b || Math.abs(a - b) <= 1e-9 * (1 + Math.abs(b));
}
function checkText() {
  const e = MODE === "pool" ? DATA.engine[state.reducer] : DATA.engine;
  const now = [state.settings, state.input, state.kernel, state.grad];
  const first = [DATA.settings, DATA.input, DATA.kernel, DATA.grad];
  if (JSON.stringify(now) !== JSON.stringify(first)) return "recomputed in this page for the new settings";
  const mine = { output: state.output, grad_input: state.grad_input, grad_weight: state.grad_weight,
    stride1: state.stride1, upsampled: state.upsampled, padded: state.padded };
  const ok = Object.keys(e).every((k) => same(mine[k], e[k]));
  return ok ? "✓ these numbers equal the kernelwise engine's" + (MODE === "transpose" ? " (conv_transpose " +
    "and its autograd)" : " (forward and autograd)") : "✗ differs from the engine's numbers";
}

// ------------------------------------------------------------------ controls
function setStep(n) { state.step = Math.max(0, Number(n)); render(); }
// a new channel's or filter's numbers: a small pattern (the kept ones stay)
const inputPattern = (c) => (r, cc) => (r * 7 + cc * 3 + c * 5) % 10;
const kernelPattern = (o, c) => (r, cc) => ((r + 2 * cc + o + c) % 5) - 2;
function resize() {
  const st = state.settings, [C, O] = st.channels, size = [state.input[0].length, state.input[0][0].length];
  state.input = Array.from({ length: C }, (_, c) => fill(size[0], size[1], state.input[c], inputPattern(c)));
  if (!state.kernel) return;
  const [A, B] = MODE === "transpose" ? [C, O] : [O, C];  // the kernel's two channel dims
  state.kernel = Array.from({ length: A }, (_, a) => Array.from({ length: B }, (_, b) => fill(st.kernel[0],
    st.kernel[1], (state.kernel[a] || [])[b], MODE === "transpose" ? kernelPattern(b, a) : kernelPattern(a, b))));
  if (state.bias) state.bias = Array.from({ length: O }, (_, o) => (o < state.bias.length ? state.bias[o] : 0));
}
function setSetting(name, v) {
  v = Number(v);
  const st = state.settings, dims = state.nd === 2 ? [0, 1] : [1];
  if (name === "size") {
    const rows = state.nd === 2 ? v : 1;
    state.input = state.input.map((m, c) => fill(rows, v, m, inputPattern(c)));
  } else if (name === "in-channels") {
    st.channels[0] = v;
    if (MODE === "pool") st.channels[1] = v;
  } else if (name === "out-channels") {
    st.channels[1] = v;
  } else if (name === "output-padding") {
    for (const i of dims) st.output_padding[i] = v;
  } else if (name === "padding") {
    for (const i of dims) st.padding[i] = [v, v];
    document.getElementById("padding-after").value = v;
  } else if (name === "padding-after") {
    for (const i of dims) st.padding[i] = [st.padding[i][0], v];
  } else {
    for (const i of dims) st[name][i] = v;
  }
  if (v >= 1 || name.startsWith("padding")) resize();
  render();
}
function setFilter(o) {
  state.filter = Number(o);
  if (state.tab === "forward") state.step = state.filter * state.g.out[0] * state.g.out[1];  // its first output
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
function hide(id) { document.getElementById(id).parentElement.style.display = "none"; }
function fillFilters() {
  const select = document.getElementById("filter");
  select.innerHTML = "";
  for (let o = 0; o < state.settings.channels[1]; o++) {
    const el = document.createElement("option");
    el.value = o;
    el.textContent = String(o + 1);
    select.appendChild(el);
  }
}
function init() {
  const at0 = state.nd === 2 ? 0 : 1, st = state.settings;
  for (const name of ["kernel", "stride", "dilation"]) document.getElementById(name).value = st[name][at0];
  document.getElementById("padding").value = st.padding[at0][0];
  document.getElementById("padding-after").value = st.padding[at0][1];
  document.getElementById("in-channels").value = st.channels[0];
  document.getElementById("out-channels").value = st.channels[1];
  document.getElementById("size").value = state.input[0][0].length;
  if (MODE === "transpose") document.getElementById("output-padding").value = st.output_padding[at0];
  else hide("output-padding");
  for (const name of ["size", "kernel", "stride", "padding", "padding-after", "dilation", "in-channels",
    "out-channels", "output-padding"]) {
    const el = document.getElementById(name);
    el.addEventListener("change", () => { setSetting(name, el.value); if (name === "out-channels") fillFilters(); });
  }
  const reducer = document.getElementById("reducer");
  if (MODE === "pool") {
    for (const r of DATA.reducers) {
      const o = document.createElement("option");
      o.value = r;
      o.textContent = r;
      reducer.appendChild(o);
    }
    reducer.addEventListener("change", () => { state.reducer = reducer.value; render(); });
  } else {
    hide("reducer");
  }
  if (MODE === "pool" || MODE === "transpose") hide("filter");
  if (MODE === "pool") hide("out-channels");
  if (MODE === "transpose") {
    hide("padding-after");  // conv_transpose pads both sides alike
  }
  fillFilters();
  document.getElementById("filter").addEventListener("change", (e) => setFilter(e.target.value));
  document.getElementById("step").addEventListener("input", (e) => setStep(e.target.value));
  document.getElementById("prev").addEventListener("click", () => setStep(state.step - 1));
  document.getElementById("next").addEventListener("click", () => setStep(state.step + 1));
  document.getElementById("play").addEventListener("click", play);
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => setTab(b.dataset.tab));
  render();
}
window.kw = { DATA, state, number, compute, render, setSetting, setStep, setTab, setFilter, eqText, rhs, arrays,
  formulaLines, equationLines };
init();
