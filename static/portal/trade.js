// The trading page, alive over its websocket (/ws/accounts/<id>/): the server pushes the
// account's snapshots and the marks the page needs; nothing here polls. The order ticket,
// cancel and close buttons post with htmx and show the server's answer beside the ticket.
(function () {
  "use strict";

  const root = document.getElementById("trade");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const readJson = (id) => JSON.parse($(id).textContent);

  let snapshot = readJson("initial-snapshot");
  const leverageLimits = readJson("leverage-limits");
  const sizeDecimals = readJson("size-decimals");
  let coin = root.dataset.coin;
  const marks = {};
  let lastSubmitted = null;
  let breachLoading = false;
  let socket = null;
  let retryDelay = 1000;
  let signedOut = false;

  // --- numbers -------------------------------------------------------------------------------

  const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));
  function money(v) {
    const n = num(v);
    if (n === null || Number.isNaN(n)) return "—";
    return n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function signed(v) {
    const n = num(v);
    if (n === null || Number.isNaN(n)) return "—";
    const text = money(Math.abs(n));
    return n > 0 ? "+" + text : n < 0 ? "−" + text : text;
  }
  function plain(v) {
    const n = num(v);
    if (n === null || Number.isNaN(n)) return "—";
    return n.toLocaleString("en-US", { maximumFractionDigits: 8 });
  }
  function setFigure(id, text, tone) {
    const el = $(id);
    if (!el) return;
    el.textContent = text;
    if (tone !== undefined) {
      el.classList.toggle("pos", tone > 0);
      el.classList.toggle("neg", tone < 0);
    }
  }

  // --- status line ---------------------------------------------------------------------------

  function status(text, kind) {
    const el = $("live-status");
    el.textContent = "";
    el.className = "live-status " + (kind || "");
    el.append(text);
  }

  // --- the chart -----------------------------------------------------------------------------

  let chart = null;
  let series = null;
  let lastBar = null;

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function chartInit() {
    const el = $("chart");
    if (!el || !window.LightweightCharts) return;
    const LC = window.LightweightCharts;
    const text = cssVar("--brand-text", "#e6edf3");
    chart = LC.createChart(el, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: text },
      grid: {
        vertLines: { color: "rgba(128,128,128,0.15)" },
        horzLines: { color: "rgba(128,128,128,0.15)" },
      },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderVisible: false },
    });
    series = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#26a69a",
      downColor: "#ef5350",
      wickUpColor: "#26a69a",
      wickDownColor: "#ef5350",
      borderVisible: false,
    });
    candlesSet(readJson("initial-candles"));
  }

  function candlesSet(rows) {
    if (!series) return;
    series.setData(rows);
    lastBar = rows.length ? Object.assign({}, rows[rows.length - 1]) : null;
  }

  function candleTick(seconds, price) {
    if (!series || !Number.isFinite(price)) return;
    const start = Math.floor(seconds / 60) * 60;
    if (lastBar && start < lastBar.time) return; // an old frame: the chart only moves forward
    if (!lastBar || start > lastBar.time) {
      lastBar = { time: start, open: price, high: price, low: price, close: price };
    } else {
      lastBar.high = Math.max(lastBar.high, price);
      lastBar.low = Math.min(lastBar.low, price);
      lastBar.close = price;
    }
    series.update(Object.assign({}, lastBar));
  }

  async function candlesLoad(newCoin) {
    const url = `${root.dataset.candlesUrl}?coin=${encodeURIComponent(newCoin)}&interval=1m&limit=300`;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return candlesSet([]);
      const rows = await response.json();
      candlesSet(
        rows.map((r) => ({
          time: Math.floor(Date.parse(r.start) / 1000),
          open: Number(r.open),
          high: Number(r.high),
          low: Number(r.low),
          close: Number(r.close),
        }))
      );
    } catch (e) {
      candlesSet([]);
    }
  }

  // --- the account ---------------------------------------------------------------------------

  const positionSize = (p) => num(p.size !== undefined ? p.size : p.qty);
  const positionEntry = (p) => num(p.entry_price !== undefined ? p.entry_price : p.entry);

  function headroomOf(name, floorKey, equity) {
    const floors = snapshot.floors || {};
    const floor = num(floors[floorKey]);
    if (floor !== null && equity !== null) return equity - floor;
    const entry = (snapshot.headroom || {})[name];
    return entry ? num(entry.headroom) : null;
  }

  function figuresPaint(equity, unrealized) {
    setFigure("equity", money(equity));
    setFigure("balance", money(snapshot.balance));
    setFigure("unrealized", signed(unrealized), unrealized);
    const dayPnl = num(snapshot.day_pnl);
    let day = dayPnl;
    const snapEquity = num(snapshot.equity);
    if (dayPnl !== null && snapEquity !== null && equity !== null) day = dayPnl + (equity - snapEquity);
    setFigure("day-pnl", signed(day), day);
    const daily = headroomOf("daily_loss", "daily", equity);
    const max = headroomOf("max_loss", "max_loss", equity);
    setFigure("headroom-daily", money(daily), daily !== null && daily <= 0 ? -1 : 0);
    setFigure("headroom-max", money(max), max !== null && max <= 0 ? -1 : 0);
    const target = (snapshot.headroom || {}).profit_target;
    setFigure("target", target ? `${money(target.value)} / ${money(target.threshold)}` : "—");
  }

  // Revalue the positions on the latest marks between two snapshots (display only: the
  // figures that decide anything are the rules engine's).
  function revalue() {
    let unrealized = 0;
    const rows = (snapshot.positions || []).map((p) => {
      const size = positionSize(p);
      const entry = positionEntry(p);
      const mark = marks[p.coin] !== undefined ? Number(marks[p.coin]) : num(p.mark);
      const pnl = size !== null && entry !== null && mark !== null ? size * (mark - entry) : num(p.unrealized_pnl);
      unrealized += pnl || 0;
      return { coin: p.coin, size, entry, mark, pnl };
    });
    const balance = num(snapshot.balance);
    const equity = balance !== null ? balance + unrealized : num(snapshot.equity);
    figuresPaint(equity, unrealized);
    positionsPaint(rows);
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function emptyRow(tbody, columns, text) {
    const tr = document.createElement("tr");
    const td = cell(text, "muted");
    td.colSpan = columns;
    tr.append(td);
    tbody.replaceChildren(tr);
  }

  function stopped() {
    return ["halted", "suspended"].includes(snapshot.state) || snapshot.status === "closed";
  }

  let positionsShape = "";

  // Rows are rebuilt only when the set of positions changes; a price tick rewrites their
  // figures in place, so a Close button is never swapped out under the pointer.
  function positionsPaint(rows) {
    const tbody = $("positions-body");
    const lastFill = ((snapshot.fills || [])[0] || {}).id || 0;
    const shape = JSON.stringify([rows.map((p) => [p.coin, p.size, p.entry]), lastFill, stopped()]);
    if (shape === positionsShape) {
      rows.forEach((p, i) => {
        const cells = tbody.rows[i].cells;
        cells[3].textContent = plain(p.mark);
        cells[4].textContent = signed(p.pnl);
        cells[4].className = p.pnl > 0 ? "pos pnl" : p.pnl < 0 ? "neg pnl" : "pnl";
      });
      return;
    }
    positionsShape = shape;
    if (!rows.length) return emptyRow(tbody, 6, "No open position.");
    tbody.replaceChildren(
      ...rows.map((p) => {
        const tr = document.createElement("tr");
        tr.dataset.coin = p.coin;
        const side = p.size > 0 ? "long" : "short";
        tr.append(
          cell(p.coin),
          cell(`${plain(p.size)} (${side})`, p.size > 0 ? "pos" : "neg"),
          cell(plain(p.entry)),
          cell(plain(p.mark)),
          cell(signed(p.pnl), p.pnl > 0 ? "pos pnl" : p.pnl < 0 ? "neg pnl" : "pnl")
        );
        const td = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.textContent = "Close";
        button.setAttribute("aria-label", `Close ${p.coin} position`);
        button.setAttribute("hx-post", root.dataset.closeUrl.replace("COIN", encodeURIComponent(p.coin)));
        button.setAttribute("hx-target", "#ticket-result");
        button.setAttribute("hx-vals", JSON.stringify({ idempotency_key: `close-${p.coin}-${lastFill}` }));
        button.disabled = stopped();
        td.append(button);
        tr.append(td);
        return tr;
      })
    );
    if (window.htmx) window.htmx.process(tbody);
  }

  let ordersShape = "";

  function ordersPaint() {
    const tbody = $("orders-body");
    const live = (snapshot.orders || []).filter((o) => o.live);
    const shape = JSON.stringify(live);
    if (shape === ordersShape) return;
    ordersShape = shape;
    if (!live.length) return emptyRow(tbody, 7, "No open order.");
    tbody.replaceChildren(
      ...live.map((o) => {
        const tr = document.createElement("tr");
        tr.dataset.order = o.id;
        const price = [o.limit_price ? `limit ${plain(o.limit_price)}` : "", o.trigger_price ? `trigger ${plain(o.trigger_price)}` : ""]
          .filter(Boolean)
          .join(", ");
        tr.append(
          cell(o.coin),
          cell(o.side, o.side === "buy" ? "pos" : "neg"),
          cell(o.kind_label + (o.reduce_only ? " (reduce-only)" : "")),
          cell(`${plain(o.filled)} / ${plain(o.size)}`),
          cell(price || "market"),
          cell(o.status_label)
        );
        const td = document.createElement("td");
        if (o.origin === "trader_web" || o.origin === "trader_api") {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "small secondary";
          button.textContent = "Cancel";
          button.setAttribute("aria-label", `Cancel ${o.side} ${o.coin} ${o.kind_label} order`);
          button.setAttribute("hx-post", root.dataset.cancelUrl.replace("00000000-0000-0000-0000-000000000000", o.id));
          button.setAttribute("hx-target", "#ticket-result");
          td.append(button);
        } else {
          td.append("by the firm");
        }
        tr.append(td);
        return tr;
      })
    );
    if (window.htmx) window.htmx.process(tbody);
  }

  let fillsShape = "";

  function fillsPaint() {
    const tbody = $("fills-body");
    const fills = snapshot.fills || [];
    const shape = JSON.stringify(fills.map((f) => f.id));
    if (shape === fillsShape) return;
    fillsShape = shape;
    if (!fills.length) return emptyRow(tbody, 7, "No fill yet.");
    tbody.replaceChildren(
      ...fills.map((f) => {
        const tr = document.createElement("tr");
        const at = new Date(f.at);
        tr.append(
          cell(at.toISOString().replace("T", " ").slice(0, 19)),
          cell(f.coin),
          cell(f.side, f.side === "buy" ? "pos" : "neg"),
          cell(plain(f.size)),
          cell(plain(f.price)),
          cell(money(f.fee)),
          cell(signed(f.realized_pnl), num(f.realized_pnl) > 0 ? "pos" : num(f.realized_pnl) < 0 ? "neg" : "")
        );
        return tr;
      })
    );
  }

  const STATE_WORDS = { halted: "Trading halted", suspended: "Trading suspended", reducing: "Reduce-only" };

  function statePaint() {
    const banner = $("state-banner");
    const fields = $("ticket-fields");
    const verdict = snapshot.verdict && typeof snapshot.verdict === "object" ? snapshot.verdict : null;
    let text = "";
    let tone = "alert";
    if (snapshot.status === "closed") {
      text = `This account is closed${snapshot.state_reason ? ": " + snapshot.state_reason : "."}`;
    } else if (STATE_WORDS[snapshot.state]) {
      text = `${STATE_WORDS[snapshot.state]}: ${snapshot.state_reason || "by the firm's risk controls"}`;
      if (snapshot.state === "reducing") tone = "warn";
    }
    if (verdict && verdict.status === "passed") {
      text = "Phase passed! Your next account is on your dashboard.";
      tone = "good";
    }
    banner.hidden = !text;
    banner.textContent = text;
    banner.className = "state-banner " + tone;
    fields.disabled = stopped() || (verdict !== null && verdict.status !== "active");
    // The engine may announce the verdict a moment before the report is written: each later
    // snapshot asks again until the report is there.
    const decided = verdict && (verdict.status === "failed" || verdict.status === "expired");
    if (decided && !breachLoading && !document.querySelector("#breach-panel .breach") && window.htmx) {
      breachLoading = true;
      window.htmx
        .ajax("GET", root.dataset.breachUrl, { target: "#breach-panel", swap: "innerHTML" })
        .finally(() => {
          breachLoading = false;
        });
    }
  }

  function rejectionPaint() {
    if (!lastSubmitted) return;
    const order = (snapshot.orders || []).find((o) => o.id === lastSubmitted);
    if (!order || order.status !== "rejected") return;
    const box = $("ticket-result");
    const div = document.createElement("div");
    div.className = "result refused";
    div.setAttribute("role", "alert");
    const p = document.createElement("p");
    p.textContent = `Rejected by the venue: ${order.reason || "no reason given"}`;
    div.append(p);
    box.replaceChildren(div);
    lastSubmitted = null;
  }

  function snapshotApply(message) {
    // The risk engine's snapshots carry no orders or fills: keep the last ones we were sent.
    const keep = { orders: snapshot.orders, fills: snapshot.fills, state_reason: snapshot.state_reason };
    snapshot = Object.assign({}, snapshot, message);
    for (const key of Object.keys(keep)) if (message[key] === undefined) snapshot[key] = keep[key];
    for (const p of snapshot.positions || []) if (p.mark !== undefined && marks[p.coin] === undefined) marks[p.coin] = p.mark;
    revalue();
    ordersPaint();
    fillsPaint();
    statePaint();
    rejectionPaint();
  }

  function priceApply(message) {
    Object.assign(marks, message.marks || {});
    if (message.coin === coin && message.mark) {
      $("mark").textContent = plain(message.mark);
      candleTick(Date.parse(message.t) / 1000, Number(message.mark));
      previewPaint();
    }
    revalue();
  }

  // --- the socket ----------------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${root.dataset.ws}?coin=${encodeURIComponent(coin)}`);
    socket.addEventListener("open", () => {
      retryDelay = 1000;
      status("Live", "live");
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "account.snapshot") snapshotApply(message);
      else if (message.type === "price") priceApply(message);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        signedOut = true;
        const link = document.createElement("a");
        link.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
        link.textContent = "Sign in again";
        status("Your session has expired: live updates stopped. ", "error");
        $("live-status").append(link);
        return;
      }
      if (event.code === 4403) return status("This account is not yours.", "error");
      status("Connection lost: reconnecting…", "warn");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  // --- the ticket ----------------------------------------------------------------------------

  function kindFieldsPaint() {
    const kind = $("ticket-kind").value;
    for (const field of document.querySelectorAll("#ticket [data-for]")) {
      const shown = field.dataset.for.split(" ").includes(kind);
      field.hidden = !shown;
      for (const input of field.querySelectorAll("input, select")) input.disabled = !shown;
    }
  }

  function previewPaint() {
    const size = num($("ticket-size").value);
    const unit = $("ticket-unit").value;
    const leverage = Math.max(1, num($("ticket-leverage").value) || 1);
    const kind = $("ticket-kind").value;
    const limit = kind.endsWith("limit") ? num($("ticket-limit").value) : null;
    const trigger = kind.startsWith("stop") ? num($("ticket-trigger").value) : null;
    const price = limit || trigger || num(marks[coin]);
    const out = $("ticket-preview");
    if (!size || !price) {
      out.textContent = price ? "" : "Waiting for a price…";
      return;
    }
    const decimals = sizeDecimals[coin] !== undefined ? sizeDecimals[coin] : 4;
    const coins = unit === "usd" ? Math.floor(((size * leverage) / price) * 10 ** decimals) / 10 ** decimals : size;
    const notional = coins * price;
    out.textContent = `≈ ${plain(coins)} ${coin} · notional ${money(notional)} · margin ${money(notional / leverage)} at ${leverage}x`;
  }

  function coinChange(newCoin) {
    coin = newCoin;
    root.dataset.coin = coin;
    $("ticket-coin").value = coin;
    for (const el of document.querySelectorAll(".ticket-coin-label")) el.textContent = coin;
    $("chart").setAttribute("aria-label", `${coin} one-minute candles`);
    const lev = $("ticket-leverage");
    lev.max = leverageLimits[coin] || 1;
    if (Number(lev.value) > Number(lev.max)) lev.value = lev.max;
    $("mark").textContent = marks[coin] ? plain(marks[coin]) : "—";
    candlesLoad(coin);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "watch", coin }));
    previewPaint();
  }

  function wire() {
    $("market").addEventListener("change", (e) => coinChange(e.target.value));
    $("ticket-kind").addEventListener("change", () => {
      kindFieldsPaint();
      previewPaint();
    });
    for (const id of ["ticket-size", "ticket-unit", "ticket-leverage", "ticket-limit", "ticket-trigger"]) {
      $(id).addEventListener("input", previewPaint);
    }
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (event.detail.target && event.detail.target.id === "ticket-result") {
        const result = event.detail.target.querySelector("[data-order]");
        lastSubmitted = result ? result.dataset.order : lastSubmitted;
      }
    });
    document.body.addEventListener("htmx:sendError", () => {
      const box = $("ticket-result");
      box.textContent = "The server could not be reached: nothing was sent. Check your connection and try again.";
    });
    document.body.addEventListener("htmx:responseError", (event) => {
      const box = $("ticket-result");
      box.textContent = `The server answered ${event.detail.xhr.status}: the order was not placed. Reload the page and try again.`;
    });
  }

  function start() {
    chartInit();
    kindFieldsPaint();
    wire();
    snapshotApply(snapshot);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
