/* lbi run viewer: the data loader and DOM helpers shared by viewer.js and episode.js.
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

  window.LBI = { load, forgetOldSteps, registry, el, append, clear, fmt, SAFE_SLUG, SAFE_REL };
})();
