// The firm dashboard's live numbers: risk.firm messages replace the figures, risk.alert
// messages are prepended to the alert list. No reload.
(function () {
  "use strict";
  const root = document.getElementById("risk-dashboard");
  if (!root) return;
  const text = (id, value) => {
    const el = document.getElementById(id);
    if (el && value !== undefined && value !== null) el.textContent = value;
  };
  const state = (value) => {
    root.dataset.live = value;
    text("live-state", value);
  };

  function firm(msg) {
    text("firm-t", msg.t);
    text("firm-equity", msg.equity);
    text("firm-day-pnl", msg.day_pnl);
    text("firm-accounts", msg.accounts);
    const body = document.getElementById("exposure");
    Object.entries(msg.instruments || {}).forEach(([coin, entry]) => {
      let row = body.querySelector(`tr[data-coin="${CSS.escape(coin)}"]`);
      if (!row) {
        row = document.createElement("tr");
        row.dataset.coin = coin;
        ["coin", "real-net", "real-dir", "sim-net", "sim-dir"].forEach((cls) => {
          const td = document.createElement("td");
          td.className = cls;
          row.appendChild(td);
        });
        row.firstChild.textContent = coin;
        body.appendChild(row);
      }
      const dir = (net) => (Number(net) > 0 ? "long" : Number(net) < 0 ? "short" : "flat");
      const real = entry.real || {}, sim = entry.simulated || {};
      row.querySelector(".real-net").textContent = real.net ?? "0.00";
      row.querySelector(".real-dir").textContent = dir(real.net);
      row.querySelector(".sim-net").textContent = sim.net ?? "0.00";
      row.querySelector(".sim-dir").textContent = dir(sim.net);
    });
    if (Array.isArray(msg.closest)) {
      const list = document.getElementById("closest");
      list.replaceChildren(
        ...msg.closest.map((row) => {
          const li = document.createElement("li");
          li.textContent = `#${row.account}: headroom ${row.headroom} (${row.headroom_pct} %)`;
          return li;
        })
      );
    }
  }

  function alert(msg) {
    const a = msg.alert;
    const list = document.getElementById("alerts");
    const none = list.querySelector("li.none");
    if (none) none.remove();
    const li = document.createElement("li");
    li.dataset.alert = a.id;
    li.textContent = `[${a.kind_label}]${a.simulated ? " (simulated)" : ""} ${a.message}`;
    list.prepend(li);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "hello") state("connected");
      else if (msg.type === "risk.firm") firm(msg);
      else if (msg.type === "risk.alert") alert(msg);
    };
    socket.onclose = (event) => {
      state(event.code === 4403 ? "refused" : "reconnecting");
      if (event.code !== 4403) setTimeout(connect, 2000);
    };
  }
  connect();
})();
