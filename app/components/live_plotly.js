// live_plotly: one plotly.js graph that stays alive across Streamlit reruns.
//
// Streamlit (components v2) imports this module once (it is cached by content hash) and calls
// the default export again every time the Python side sends new data, with the SAME
// parentElement. So the graph div is created once and every later call is a Plotly.react on
// it: with a fixed layout.uirevision plotly keeps what the user changed (3-D camera, zoom,
// legend clicks) while the data change. st.plotly_chart cannot do this today (streamlit#8882).
//
// plotly.js (~4.7 MB) is not inlined: Python serves the copy shipped with the plotly package
// as a static file and sends its URL; it is loaded once per page with a <script> tag and
// kept on window, so later ticks only carry the figure JSON.

const PLOTLY_KEY = "__marginLabPlotly";
const GRAPH_CLASS = "ml-live-plotly";
const graphs = new WeakMap(); // graph div -> {latest, busy, observer}
// While the user drags any live chart (turning the sphere), no chart redraws: a training tick's redraws
// would otherwise take the browser's main thread from under the drag, and the turn would stutter.
let handsOn = 0;
// Charts sent with the same camera_group share one 3-D camera (the Compare page's small multiples):
// turning one turns the others, and every later draw of a member starts from the group's camera.
const cameraGroups = new Map(); // group -> {camera, divs: Set}

function joinCameraGroup(div, state, group) {
  if (state.cameraGroup === group) return;
  if (state.cameraGroup && cameraGroups.has(state.cameraGroup)) cameraGroups.get(state.cameraGroup).divs.delete(div);
  state.cameraGroup = group || null;
  if (!group) return;
  if (!cameraGroups.has(group)) cameraGroups.set(group, { camera: null, divs: new Set() });
  cameraGroups.get(group).divs.add(div);
}

function shareCamera(div, camera) {
  const state = graphs.get(div);
  if (!state || !state.cameraGroup || !camera || state.applyingGroupCamera) return;
  const group = cameraGroups.get(state.cameraGroup);
  group.camera = structuredClone(camera);
  if (group.frame) return; // one relayout of the others per animation frame, with the newest camera
  group.frame = requestAnimationFrame(() => {
    group.frame = 0;
    for (const other of group.divs) {
      const otherState = graphs.get(other);
      if (other === div || !otherState || !other.isConnected) continue;
      if (otherState.busy || !otherState.Plotly) {
        otherState.redraw = true; // its next draw takes the group's camera
        continue;
      }
      otherState.applyingGroupCamera = true;
      otherState.Plotly.relayout(other, { "scene.camera": structuredClone(group.camera) })
        .catch(() => {})
        .finally(() => { otherState.applyingGroupCamera = false; });
    }
  });
}

// The camera plotly holds for a 3-D chart now (saved into the layout when a drag ends).
function currentCamera(div) {
  const scene = div._fullLayout && div._fullLayout.scene && div._fullLayout.scene._scene;
  if (scene && typeof scene.getCamera === "function") return scene.getCamera();
  return div.layout && div.layout.scene && div.layout.scene.camera;
}

function loadPlotly(url) {
  const cached = window[PLOTLY_KEY];
  if (cached) return cached;
  // The page's st.plotly_chart elements may already have put a plotly.js on window: parsing a second
  // 4.7 MB copy took the browser over a second before the first sphere (benchmarks/ui_latency.py).
  // Otherwise (no other chart yet, or a Streamlit that stops exposing it) load our own copy.
  if (window.Plotly && typeof window.Plotly.react === "function") {
    window[PLOTLY_KEY] = Promise.resolve(window.Plotly);
    return window[PLOTLY_KEY];
  }
  const promise = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.dataset.marginLab = "plotly.js";
    script.onload = () => {
      if (window.Plotly && typeof window.Plotly.react === "function") resolve(window.Plotly);
      else reject(new Error(`plotly.js loaded from ${url} but defined no window.Plotly`));
    };
    script.onerror = () => reject(new Error(`could not load plotly.js from ${url}`));
    document.head.appendChild(script);
  });
  // A failed load is not cached, so a later tick can try again.
  promise.catch(() => {
    if (window[PLOTLY_KEY] === promise) delete window[PLOTLY_KEY];
  });
  window[PLOTLY_KEY] = promise;
  return promise;
}

function cssVar(el, name) {
  const value = getComputedStyle(el).getPropertyValue(name);
  return value ? value.trim() : "";
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// Fill `target` with `defaults` wherever the figure did not set a value itself.
function fillDefaults(target, defaults) {
  for (const [key, value] of Object.entries(defaults)) {
    if (isObject(value)) {
      if (!isObject(target[key])) target[key] = target[key] === undefined ? {} : target[key];
      if (isObject(target[key])) fillDefaults(target[key], value);
    } else if (target[key] === undefined || target[key] === null) {
      target[key] = value;
    }
  }
  return target;
}

// The Streamlit theme, read from the --st-* CSS variables Streamlit sets around every
// v2 component, applied only where the figure is silent (so explicit colours win).
function themeLayout(layout, el) {
  const text = cssVar(el, "--st-text-color");
  if (!text) return layout;
  const grid = cssVar(el, "--st-border-color") || "rgba(128,128,128,0.35)";
  const line = cssVar(el, "--st-gray-color") || grid;
  const font = cssVar(el, "--st-font");
  const background = cssVar(el, "--st-background-color");
  const axis = { gridcolor: grid, linecolor: line, zerolinecolor: line, tickcolor: line };
  // 2-D axes as Streamlit's own st.plotly_chart theme draws them: margins grow to fit tick labels
  // and titles, no vertical grid lines.
  const xaxis = { ...axis, automargin: true, showgrid: false, zeroline: false };
  const yaxis = { ...axis, automargin: true };
  const defaults = {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: text, family: font || undefined },
    title: { font: { color: text } },
    legend: { bgcolor: "rgba(0,0,0,0)", font: { color: text } },
    hoverlabel: { bgcolor: background || undefined, font: { color: text } },
    // plotly derives the modebar's backdrop from paper_bgcolor; transparent paper would make it a grey slab.
    modebar: { bgcolor: "rgba(0,0,0,0)", color: line, activecolor: text },
    xaxis,
    yaxis,
  };
  for (const key of Object.keys(layout)) {
    if (/^xaxis\d+$/.test(key)) defaults[key] = xaxis;
    if (/^yaxis\d+$/.test(key)) defaults[key] = yaxis;
    if (/^scene\d*$/.test(key)) {
      const sceneAxis = { ...axis, backgroundcolor: "rgba(0,0,0,0)" };
      defaults[key] = { xaxis: sceneAxis, yaxis: sceneAxis, zaxis: sceneAxis };
    }
  }
  return fillDefaults(layout, JSON.parse(JSON.stringify(defaults)));
}

function graphFor(parentElement) {
  let div = parentElement.querySelector(`:scope > .${GRAPH_CLASS}`);
  if (div) return div;
  div = document.createElement("div");
  div.className = GRAPH_CLASS;
  div.style.width = "100%";
  parentElement.appendChild(div);
  // Count creations so a browser test can tell "updated in place" from "rebuilt": in all, and per
  // Streamlit element key (the st-key-<key> class around the component).
  window.__marginLabLivePlotlyCreated = (window.__marginLabLivePlotlyCreated || 0) + 1;
  const keyed = parentElement.closest('[class*="st-key-"]');
  const key = keyed ? [...keyed.classList].find((c) => c.startsWith("st-key-")).slice(7) : "";
  const created = (window.__marginLabLivePlotlyCreatedByKey = window.__marginLabLivePlotlyCreatedByKey || {});
  created[key] = (created[key] || 0) + 1;
  const state = {
    key,
    latest: null, // newest data not yet drawn
    current: null, // data drawn last (redrawn on a width change)
    redraw: false,
    busy: false,
    width: 0,
    pointerDown: false,
    lastWheel: -Infinity,
    listeners: [],
  };
  graphs.set(div, state);
  const listen = (target, type, handler, options) => {
    target.addEventListener(type, handler, options);
    state.listeners.push(() => target.removeEventListener(type, handler, options));
  };
  // Never redraw under the user's hand: every Plotly.react re-applies the saved camera, so a
  // tick that lands mid-drag would snap a 3-D rotation (or a 2-D zoom box) back. Figures that
  // arrive meanwhile wait, and only the newest one is drawn once the user lets go.
  const release = () => {
    if (!state.pointerDown) return;
    state.pointerDown = false;
    handsOn = Math.max(0, handsOn - 1);
    // Let plotly's own mouseup handler store the new camera before the next react.
    setTimeout(() => {
      if (state.cameraGroup) shareCamera(div, currentCamera(div));
      drain(div, parentElement);
    }, 50);
  };
  listen(div, "pointerdown", () => {
    if (!state.pointerDown) handsOn += 1;
    state.pointerDown = true;
  }, true);
  listen(window, "pointerup", release, true);
  listen(window, "pointercancel", release, true);
  listen(window, "blur", release);
  listen(div, "wheel", () => { state.lastWheel = performance.now(); }, { capture: true, passive: true });
  if (typeof ResizeObserver === "function") {
    // The width is set explicitly on every draw (not Plots.resize, which leaves a 3-D scene
    // bound to a stale layout so that the next react forgets the user's camera).
    state.observer = new ResizeObserver(() => {
      const width = Math.round(div.clientWidth);
      if (width > 0 && width !== state.width && state.current) {
        state.redraw = true;
        drain(div, parentElement);
      }
    });
    state.observer.observe(div);
  }
  return div;
}

function showError(div, error) {
  console.error("live_plotly:", error);
  let note = div.parentNode && div.parentNode.querySelector(":scope > .ml-live-plotly-error");
  if (!note) {
    note = document.createElement("div");
    note.className = "ml-live-plotly-error";
    note.setAttribute("role", "alert");
    note.style.cssText = "padding:1em;color:var(--st-red-color, #c00);font-family:var(--st-font, sans-serif)";
    div.before(note);
  }
  note.textContent = `The live chart could not be drawn: ${error && error.message ? error.message : error}`;
}

// plotly.js sets camera.mode = "turntable" on every redraw of a 3-D scene (scene.updateFx), and
// that setter schedules a camera keyframe 500 ms in the future: a drag that starts within
// 500 ms of a Plotly.react is then saved as the old camera and undone by the next react (with
// ticks every 0.3 s, nearly every drag; see plotly.js#6359). Assigning the mode it already has
// is skipped for each scene; a real mode change (modebar: orbit <-> turntable) passes through.
// Guarded: if plotly's internals look different, nothing is patched.
function keepTurntableDrags(div) {
  const fullLayout = div._fullLayout;
  const ids = (fullLayout && fullLayout._subplots && fullLayout._subplots.gl3d) || [];
  for (const id of ids) {
    const scene = fullLayout[id] && fullLayout[id]._scene;
    if (!scene || scene.__marginLabPatched || typeof scene.updateFx !== "function" || !scene.camera) continue;
    const original = scene.updateFx;
    scene.updateFx = function updateFxKeepingDrags(...args) {
      const camera = this.camera;
      if (!camera) return original.apply(this, args);
      this.camera = new Proxy(camera, {
        set(target, prop, value) {
          if (!(prop === "mode" && target.mode === value)) target[prop] = value;
          return true;
        },
      });
      try {
        return original.apply(this, args);
      } finally {
        this.camera = camera;
      }
    };
    scene.__marginLabPatched = true;
  }
}

// ---- Previews: a slider moves, the chart follows before the server answers ----------------------
//
// A figure may come with previews (app/live/preview.py): for each slider that bends it, the patches
// that turn it into the figure at the slider's nearby stops. A MutationObserver sees the slider's
// <input type=range> change the moment the thumb moves (keyboard or drag); every chart that previews
// that slider then draws the patch for the new stop at once. The server's own figure follows.
// Each chart records the slider values it shows in div.dataset.shown (JSON {widget: value}).

const previewers = new Map(); // widget key -> Set of graph divs whose figure previews that slider
let sliderObserver = null;

function previewsOf(data) {
  if (data.__previews === undefined) data.__previews = data.preview ? JSON.parse(data.preview) : [];
  return data.__previews;
}

function sliderInput(widget) {
  return document.querySelector(`.st-key-${CSS.escape(widget)} input[type="range"]`);
}

function sliderValue(control) {
  const input = sliderInput(control.widget);
  const raw = input ? Number(input.value) : NaN;
  if (!Number.isFinite(raw)) return control.current;
  return control.by_index ? control.start + raw * control.step : raw;
}

function register(div, data) {
  watchNotes(data);
  for (const divs of previewers.values()) divs.delete(div);
  for (const control of previewsOf(data)) {
    if (!previewers.has(control.widget)) previewers.set(control.widget, new Set());
    previewers.get(control.widget).add(div);
  }
  if (previewers.size && !sliderObserver) {
    sliderObserver = new MutationObserver((records) => {
      const moved = new Set();
      for (const record of records) {
        const holder = record.target.closest && record.target.closest('[class*="st-key-"]');
        const cls = holder && [...holder.classList].find((c) => c.startsWith("st-key-"));
        if (cls) moved.add(cls.slice(7));
      }
      for (const widget of moved) {
        for (const div of previewers.get(widget) || []) {
          const state = graphs.get(div);
          if (!state || !div.isConnected) continue;
          showNotes(state.latest || state.current);
          state.redraw = true;
          drain(div, state.parentElement);
        }
      }
    });
    sliderObserver.observe(document.body, { subtree: true, attributes: true, attributeFilter: ["value"] });
  }
}

// The notes under a slider ("Workable for 10 classes ...: m < 1.15 rad ..., at m = 0.53 ...") follow the thumb too:
// a control with `notes_box` carries, in each variant, the notes at that stop as [[level, text], ...]
// (app/live/preview.py with_notes). They are written into the notes' own elements at once, without waiting
// for a chart's draw; the server's notes replace them a moment later. Only when the stop's notes have the
// same kinds in the same order as those on the page (a caption that turns into a warning waits for the server).
function noteElements(box) {
  const out = [];
  for (const el of box.querySelectorAll('[data-testid="stElementContainer"]')) {
    const caption = el.querySelector('[data-testid="stCaptionContainer"] p');
    const warning = el.querySelector('[data-testid="stAlert"] [data-testid="stMarkdownContainer"] p');
    const p = caption || warning;
    // Only a paragraph of one text node: its node is React's, so the text is changed in place (nodeValue),
    // never replaced; React's next update then lands on the same node.
    if (!p || p.childNodes.length !== 1 || p.firstChild.nodeType !== Node.TEXT_NODE) return null;
    out.push([caption ? "caption" : "warning", p.firstChild]);
  }
  return out;
}

function showNotes(data) {
  if (!data) return;
  const boxes = new Map(); // notes box key -> its controls (the margin's and the scale's share one box)
  for (const control of previewsOf(data)) {
    if (control.notes_box) boxes.set(control.notes_box, [...(boxes.get(control.notes_box) || []), control]);
  }
  for (const [key, controls] of boxes) {
    const box = document.querySelector(`.st-key-${CSS.escape(key)}`);
    const here = box && noteElements(box);
    if (!here) continue;
    // One slider moves at a time: the first whose thumb left the figure's stop decides, else the notes at the
    // figure's own values (the notes are a function of the sliders, so either is what the server will write).
    let notes = controls[0].notes_now;
    let shown = null;
    for (const control of controls) {
      const value = sliderValue(control);
      if (Math.abs(value - control.current) < control.step / 2) continue;
      const hit = control.variants.find(([stop]) => Math.abs(stop - value) < control.step / 2);
      notes = hit && hit[1].notes;
      shown = hit ? hit[0] : null;
      break;
    }
    if (!notes || notes.length !== here.length || notes.some(([level], i) => level !== here[i][0])) continue;
    here.forEach(([, text], i) => {
      if (text.nodeValue !== notes[i][1]) text.nodeValue = notes[i][1]; // (a write is a mutation: only when it differs)
    });
    if (shown !== null) box.dataset.shown = String(shown);
  }
}

// The server redraws the notes when it answers, perhaps for a stop the thumb has already left: each notes box
// is watched, and what the server wrote is previewed again for where the thumb is now.
const notesWatch = new Map(); // notes box key -> {data, el, observer}

function watchNotes(data) {
  for (const control of previewsOf(data)) {
    if (!control.notes_box) continue;
    const entry = notesWatch.get(control.notes_box) || {};
    notesWatch.set(control.notes_box, entry);
    entry.data = data;
    const el = document.querySelector(`.st-key-${CSS.escape(control.notes_box)}`);
    if (el && entry.el !== el) {
      if (entry.observer) entry.observer.disconnect();
      entry.el = el;
      entry.observer = new MutationObserver(() => showNotes(entry.data));
      entry.observer.observe(el, { subtree: true, childList: true, characterData: true });
    }
  }
}

function ring(cx, cy, cz, radius, num) {
  // = app/plots' _ring: points at angular distance `radius` around the unit vector c.
  const helper = Math.abs(cx) < 0.9 ? [1, 0, 0] : [0, 1, 0];
  let u = [cy * helper[2] - cz * helper[1], cz * helper[0] - cx * helper[2], cx * helper[1] - cy * helper[0]];
  const n = Math.hypot(...u);
  u = u.map((x) => x / n);
  const v = [cy * u[2] - cz * u[1], cz * u[0] - cx * u[2], cx * u[1] - cy * u[0]];
  const out = { x: [], y: [], z: [] };
  for (let i = 0; i < num; i++) {
    const t = (2 * Math.PI * i) / (num - 1);
    const [c, s, ct, st] = [Math.cos(radius), Math.sin(radius), Math.cos(t), Math.sin(t)];
    out.x.push(c * cx + s * (ct * u[0] + st * v[0]));
    out.y.push(c * cy + s * (ct * u[1] + st * v[1]));
    out.z.push(c * cz + s * (ct * u[2] + st * v[2]));
  }
  return out;
}

function wedge(centre, cw, ccw, radius, num) {
  // = app/plots/sphere.py's _wedge_trace: from the origin round the rim from centre − cw to centre + ccw.
  if (!(cw > 0 || ccw > 0)) return { x: [], y: [] };
  const out = { x: [0], y: [0] };
  for (let i = 0; i < num; i++) {
    const a = centre - cw + ((cw + ccw) * i) / (num - 1);
    out.x.push(radius * Math.cos(a));
    out.y.push(radius * Math.sin(a));
  }
  out.x.push(0);
  out.y.push(0);
  return out;
}

// Patched traces become new objects; the others stay the very objects drawn before, so Plotly.react
// sees at once that they did not change and redraws only what the slider moved.
function applyPatch(figure, patch) {
  if (patch.traces) figure.data = patch.traces;
  const patchTrace = (i, fields) => {
    const trace = { ...figure.data[Number(i)] };
    for (const [key, value] of Object.entries(fields)) {
      if (value === null) delete trace[key];
      else trace[key] = value;
    }
    figure.data[Number(i)] = trace;
  };
  for (const [i, fields] of Object.entries(patch.data || {})) patchTrace(i, fields);
  for (const [key, value] of Object.entries(patch.layout || {})) {
    if (value === null) delete figure.layout[key];
    else figure.layout[key] = value;
  }
  for (const [i, [cx, cy, cz, radius, num]] of Object.entries(patch.rings || {})) patchTrace(i, ring(cx, cy, cz, radius, num));
  for (const [i, [centre, cw, ccw, radius, num]] of Object.entries(patch.arcs || {})) {
    patchTrace(i, wedge(centre, cw, ccw, radius, num));
  }
  return figure;
}

// The server's figure, parsed once per message (a preview redraw reuses its trace objects).
function parsedFigure(data) {
  if (!data.__figure) data.__figure = typeof data.figure === "string" ? JSON.parse(data.figure) : structuredClone(data.figure);
  return data.__figure;
}

// The figure to draw for the server's `data` with the sliders as they stand in the page now, and the
// slider values it shows. Only one slider's patch applies (each is relative to the server's figure).
function previewed(data, figure) {
  const shown = {};
  let patched = false;
  for (const control of previewsOf(data)) {
    const value = sliderValue(control);
    shown[control.widget] = control.current;
    if (Math.abs(value - control.current) < control.step / 2) continue;
    const hit = control.variants.find(([stop]) => Math.abs(stop - value) < control.step / 2);
    if (hit && !patched) {
      applyPatch(figure, hit[1]);
      shown[control.widget] = hit[0];
      patched = true;
    }
  }
  return shown;
}

// One graph draws at a time, page-wide, the highest on the page first, and the browser paints
// between two draws. A first load brings every graph's figure in the same moment: drawn in one
// go (one long task of several hundred ms in software WebGL) the main view appeared only after
// all the others; one at a time it appears first, and the page stays responsive meanwhile.
const waiting = []; // [{div, resolve}] graphs with a figure to draw
let slotTaken = false;
let pumpQueued = false;

function drawSlot(div, urgent) {
  return new Promise((resolve) => {
    waiting.push({ div, resolve, urgent });
    queuePump();
  });
}

function queuePump() {
  if (pumpQueued || slotTaken) return;
  pumpQueued = true;
  // A microtask: every graph whose figure arrived in this task has asked by then.
  queueMicrotask(pump);
}

function pump() {
  pumpQueued = false;
  if (slotTaken || !waiting.length) return;
  // Previews (a slider just moved) go first, the quickest to draw first, so most views follow the
  // thumb soonest; otherwise the highest graph on the page.
  let first = 0;
  const cost = (entry) => (graphs.get(entry.div) || {}).lastDrawMs || 0;
  for (let i = 1; i < waiting.length; i++) {
    const a = waiting[first];
    const b = waiting[i];
    if (a.urgent !== b.urgent) {
      if (b.urgent) first = i;
      continue;
    }
    if (a.urgent) {
      if (cost(b) < cost(a)) first = i;
      continue;
    }
    if (!b.div.isConnected || (a.div.isConnected && a.div.compareDocumentPosition(b.div) & Node.DOCUMENT_POSITION_PRECEDING)) {
      first = i;
    }
  }
  const [next] = waiting.splice(first, 1);
  slotTaken = true;
  next.resolve();
}

function releaseSlot() {
  let done = false;
  const next = () => {
    if (done) return;
    done = true;
    slotTaken = false;
    queuePump();
  };
  if (!waiting.length) {
    next();
    return;
  }
  // After the next frame (so the graph just drawn is painted); a hidden tab gets no frames.
  const fallback = setTimeout(next, 100);
  requestAnimationFrame(() => {
    clearTimeout(fallback);
    setTimeout(next, 0);
  });
}

const WHEEL_QUIET_MS = 400;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function busyUserFor(state) {
  if (handsOn > 0) return 100;
  const sinceWheel = performance.now() - state.lastWheel;
  return sinceWheel < WHEEL_QUIET_MS ? WHEEL_QUIET_MS - sinceWheel : 0;
}

// Draw the newest figure; figures that arrive while plotly is busy (or the user is dragging)
// replace each other, so a slow browser skips ticks instead of queueing them.
async function drain(div, parentElement) {
  const state = graphs.get(div);
  if (!state || state.busy) return;
  state.busy = true;
  try {
    while (state.latest || state.redraw) {
      const wait = busyUserFor(state);
      if (wait > 0) {
        await sleep(wait);
        continue;
      }
      const Plotly = await loadPlotly((state.latest || state.current).plotly_url);
      state.Plotly = Plotly;
      await drawSlot(div, state.redraw && !state.latest);
      try {
        if (busyUserFor(state) > 0 || !(state.latest || state.redraw)) continue;
        const data = state.latest || state.current;
        state.latest = null;
        state.redraw = false;
        state.current = data;
        const parsed = parsedFigure(data);
        // Traces are shared with the last draw (unchanged ones stay the same objects, so Plotly.react skips
        // them); the layout is copied whole: plotly writes the user's camera into it, and a layout shared
        // between draws would lose the uirevision bookkeeping that keeps that camera.
        const figure = { data: (parsed.data || []).slice(), layout: structuredClone(parsed.layout || {}) };
        const shown = previewed(data, figure);
        const layout = figure.layout || {};
        const group = state.cameraGroup && cameraGroups.get(state.cameraGroup);
        if (group && group.camera && layout.scene) layout.scene.camera = structuredClone(group.camera);
        if (data.theme) themeLayout(layout, parentElement);
        div.style.height = `${data.height}px`;
        state.width = Math.round(div.clientWidth);
        layout.height = data.height;
        if (state.width > 0) layout.width = state.width;
        layout.autosize = false;
        const config = { displaylogo: false, responsive: false, ...(data.config || {}) };
        const started = performance.now();
        await Plotly.react(div, figure.data || [], layout, config);
        div.dataset.shown = JSON.stringify(shown);
        // For profiling (benchmarks/ui_latency.py): how long each chart's redraws took, newest last.
        const spent = (window.__marginLabDrawMs = window.__marginLabDrawMs || {});
        state.lastDrawMs = performance.now() - started;
        (spent[state.key] = spent[state.key] || []).push(state.lastDrawMs);
        keepTurntableDrags(div);
        if (state.cameraGroup && !state.cameraListener && typeof div.on === "function") {
          state.cameraListener = true;
          // While a view is turned the others follow (plotly_relayouting); the drag's end is caught by
          // the pointerup handler, because plotly does not emit plotly_relayout for a 3-D turntable drag.
          div.on("plotly_relayouting", (event) => shareCamera(div, event && event["scene.camera"]));
          div.on("plotly_relayout", (event) => shareCamera(div, event && event["scene.camera"]));
        }
        const note = parentElement.querySelector(":scope > .ml-live-plotly-error");
        if (note) note.remove();
      } finally {
        releaseSlot();
      }
    }
  } catch (error) {
    showError(div, error);
  } finally {
    state.busy = false;
  }
}

export default function liveplotly(component) {
  const { data, parentElement } = component;
  if (!data || !parentElement) return undefined;
  if (data.preload) {
    // preload_plotly_js(): no graph, only plotly.js on its way; the element takes no room.
    const box = parentElement.closest('[data-testid="stElementContainer"]');
    if (box) box.style.display = "none";
    loadPlotly(data.plotly_url).catch(() => {});
    return undefined;
  }
  const div = graphFor(parentElement);
  const state = graphs.get(div);
  state.latest = data;
  state.parentElement = parentElement;
  joinCameraGroup(div, state, data.camera_group);
  register(div, data);
  drain(div, parentElement);
  // Streamlit calls the returned function when this render is superseded or the element is
  // unmounted. Only a real unmount (the div has left the page) frees the graph.
  return () => {
    setTimeout(() => {
      if (div.isConnected) return;
      const state = graphs.get(div);
      if (!state) return;
      if (state.observer) state.observer.disconnect();
      for (const divs of previewers.values()) divs.delete(div);
      joinCameraGroup(div, state, null);
      state.listeners.forEach((remove) => remove());
      if (state.Plotly) state.Plotly.purge(div);
      graphs.delete(div);
    }, 0);
  };
}
