/* lbi run viewer: the live view. Served over http (`lbi view --serve`, which rebuilds the
 * data when the run's episodes.jsonl changes), the page re-reads data/meta.js every few
 * seconds and, when its generated_at changed, hands the new meta to the page to redraw.
 * Opened from disk (file://) nothing is polled: the files there change only when
 * `lbi view` runs again, and a reload shows that.
 */
"use strict";

(function () {
  const { reload, el } = window.LBI;
  const EVERY_MS = 3000;

  function setLive(text, cls) {
    const node = document.getElementById("live");
    if (!node) return;
    node.textContent = text;
    node.className = "live " + (cls || "");
  }

  // current(): the meta shown now; onChange(meta) redraws with a new one (may be async)
  function start(current, onChange) {
    if (!/^https?:$/.test(location.protocol)) return false;
    let busy = false;
    const stamp = () => new Date().toLocaleTimeString();
    setLive("● live", "on");
    document.body.dataset.live = "on";
    setInterval(async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const meta = await reload("meta", "data/meta.js");
        if (meta.generated_at !== current().generated_at) {
          await onChange(meta);
          document.body.dataset.generated = meta.generated_at;
          setLive(`● live · updated ${stamp()}`, "on");
        }
      } catch (e) {
        setLive("● live · " + String(e.message || e), "err");
      } finally {
        busy = false;
      }
    }, EVERY_MS);
    return true;
  }

  window.LBILive = { start, setLive, el };
})();
