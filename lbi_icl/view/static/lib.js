/* lbi run viewer: the data loader, DOM helpers and small controls shared by every page.
 *
 * Data files are scripts that call lbiData(name, jsonString); the string is given to
 * JSON.parse, never evaluated (see lbi_icl/view/shards.py). el() puts every string in with
 * textContent or setAttribute, never innerHTML.
 */
"use strict";

(function () {
  // ------------------------------------------------------------------ data loading
  const registry = new Map();
  const waiting = new Map();
  const STEP_CACHE = 20;
  const stepNames = [];

  window.lbiData = function (name, json) {
    const value = JSON.parse(json);
    registry.set(name, value);
    const w = waiting.get(name);
    if (w) {
      waiting.delete(name);
      w.resolve(value);
    }
  };

  function load(name, src) {
    if (registry.has(name)) return Promise.resolve(registry.get(name));
    if (waiting.has(name)) return waiting.get(name).promise;
    const entry = {};
    entry.promise = new Promise((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    waiting.set(name, entry);
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => {
      s.remove();
      if (waiting.get(name) === entry) {
        waiting.delete(name);
        entry.reject(new Error(src + " did not register " + name));
      }
    };
    s.onerror = () => {
      s.remove();
      waiting.delete(name);
      entry.reject(new Error("could not load " + src));
    };
    document.head.appendChild(s);
    return entry.promise;
  }

  // Load `name` again (live view over http): the cached copy is dropped and the file is
  // asked for under a new query string, so no cache in between answers with the old one.
  function reload(name, src, version) {
    registry.delete(name);
    const sep = src.indexOf("?") < 0 ? "?" : "&";
    return load(name, src + sep + "v=" + encodeURIComponent(version || String(Date.now())));
  }

  function forgetOldSteps(name) {
    stepNames.push(name);
    while (stepNames.length > STEP_CACHE) registry.delete(stepNames.shift());
  }

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(node, c);
      else if (c instanceof Node) node.appendChild(c);
      else node.appendChild(document.createTextNode(String(c)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  // SVG elements (charts) through the same rules as el(): attributes and text only.
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, String(v));
    }
    append(node, children);
    return node;
  }

  // ------------------------------------------------------------------ routes and controls
  // #/VIEW/ARG/SUB/SUBARG?k=v: e.g. #/list?strategy=rag, #/episode/SLUG/step/3
  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    const parts = path.split("/").map((x) => {
      try {
        return decodeURIComponent(x);
      } catch (e) {
        return x;
      }
    });
    return { view: parts[0] || "", arg: parts[1] || "", sub: parts[2] || "", subArg: parts[3] || "", params };
  }

  function href(view, params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) p.set(k, v);
    const qs = p.toString();
    return "#/" + view + (qs ? "?" + qs : "");
  }

  function episodeHref(slug, step) {
    return "#/episode/" + encodeURIComponent(slug) + (step === undefined || step === null ? "" : "/step/" + step);
  }

  function paramsOf(params, keys) {
    const out = {};
    for (const k of keys) out[k] = params.get(k) || "";
    return out;
  }

  function select(name, value, options, onchange) {
    const s = el("select", { name, "aria-label": name, onchange: () => onchange(s.value) });
    for (const [v, label] of options) {
      const o = el("option", { value: v }, label);
      if (v === value) o.selected = true;
      s.appendChild(o);
    }
    return s;
  }

  function textFilter(name, value, placeholder, onchange, wait) {
    let timer = null;
    const input = el("input", { type: "search", name, placeholder, value, "aria-label": name });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => onchange(input.value), wait === undefined ? 150 : wait);
    });
    return input;
  }

  function pager(total, page, size, go) {
    const pages = Math.max(1, Math.ceil(total / size));
    if (pages <= 1) return null;
    return el(
      "div",
      { class: "pager" },
      el("button", { onclick: () => go(page - 1), disabled: page <= 0 }, "‹ prev"),
      el("span", { class: "muted" }, ` page ${page + 1} of ${pages} `),
      el("button", { onclick: () => go(page + 1), disabled: page >= pages - 1 }, "next ›")
    );
  }

  const fmt = {
    num(x, d) {
      return x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 2 : d);
    },
    cost(x) {
      return x === null || x === undefined ? "–" : "$" + Number(x).toFixed(4);
    },
    ms(s) {
      return s === null || s === undefined ? "–" : (1000 * s).toFixed(s < 0.01 ? 2 : 0) + " ms";
    },
    pct(a, b) {
      return b ? ((100 * a) / b).toFixed(1) + "%" : "–";
    },
  };

  const SAFE_SLUG = /^[A-Za-z0-9._-]+$/;
  const SAFE_REL = /^(steps|trajectories)\/[A-Za-z0-9._-]+$/;

  window.LBI = {
    load, reload, forgetOldSteps, registry, el, svg, append, clear, fmt, SAFE_SLUG, SAFE_REL,
    parseRoute, href, episodeHref, paramsOf, select, textFilter, pager,
  };
})();
