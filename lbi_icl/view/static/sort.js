/* lbi run viewer: sortable tables. A click on a column header sorts by it, a second click
 * reverses; the page keeps the state in the URL hash (sort=KEY&dir=asc|desc), so a sorted
 * list can be shared and survives a reload. Numbers sort as numbers, text with a
 * numeric-aware collation ("seed-9" before "seed-10"); empty values go last either way.
 */
"use strict";

(function () {
  const { el } = window.LBI;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function empty(v) {
    return v === null || v === undefined || v === "" || (typeof v === "number" && Number.isNaN(v));
  }

  // ascending order of two values; empties are handled by sortBy
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "boolean" || typeof b === "boolean") return Number(a) - Number(b);
    return collator.compare(String(a), String(b));
  }

  // A sorted copy of `items` by getter(item) (stable: ties keep their order).
  function sortBy(items, getter, dir) {
    const sign = dir === "desc" ? -1 : 1;
    const keyed = items.map((item, i) => ({ item, i, v: getter(item) }));
    keyed.sort((x, y) => {
      const ex = empty(x.v);
      const ey = empty(y.v);
      if (ex || ey) return ex === ey ? x.i - y.i : ex ? 1 : -1;
      return sign * compare(x.v, y.v) || x.i - y.i;
    });
    return keyed.map((k) => k.item);
  }

  // <thead> for `columns` ([{key, label, title, extra}], key null: not sortable); `state`
  // is {sort, dir}; onSort(key, dir) is called with the new state.
  function header(columns, state, onSort) {
    const row = el("tr");
    for (const c of columns) {
      if (!c.key) {
        row.appendChild(el("th", { title: c.title || null }, c.label, c.extra || null));
        continue;
      }
      const on = state.sort === c.key;
      const dir = on ? (state.dir === "desc" ? "desc" : "asc") : null;
      const next = on && dir === "asc" ? "desc" : "asc";
      const th = el(
        "th",
        {
          class: "sortable" + (on ? " sorted-" + dir : ""),
          "data-sort": c.key,
          "aria-sort": on ? (dir === "asc" ? "ascending" : "descending") : "none",
          title: (c.title ? c.title + " — " : "") + "click to sort " + (next === "asc" ? "ascending" : "descending"),
          tabindex: "0",
          onclick: () => onSort(c.key, next),
          onkeydown: (e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault();
              onSort(c.key, next);
            }
          },
        },
        c.label,
        el("span", { class: "arrow" }, on ? (dir === "asc" ? " ▲" : " ▼") : ""),
        c.extra || null
      );
      row.appendChild(th);
    }
    return el("thead", null, row);
  }

  window.LBISort = { sortBy, header, compare };
})();
