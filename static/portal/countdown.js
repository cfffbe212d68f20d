// Countdowns to the next daily reset: the server gives the seconds left (by its clock, which
// tests and demos can move); the page counts them down locally, with no request.
(function () {
  "use strict";
  function format(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return (d ? d + "d " : "") + h + "h " + pad(m) + "m " + pad(r) + "s";
  }
  function start() {
    const started = Date.now();
    const clocks = Array.from(document.querySelectorAll("time.countdown[data-seconds]"));
    if (!clocks.length) return;
    function paint() {
      const elapsed = (Date.now() - started) / 1000;
      for (const el of clocks) {
        const left = Number(el.dataset.seconds) - elapsed;
        el.textContent = left > 0 ? format(left) : "now";
      }
    }
    paint();
    setInterval(paint, 1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
