// Candleflow chart page: candlesticks + volume for one stored series, drawn with plotly.js.
//
// Auth: inside Airflow the page is same-origin with the api-server, so the browser sends
// Airflow's HttpOnly `_token` cookie with every API call and no script ever sees the token.
// Outside the UI (a bare api-server URL, a script), a token can be given once as
// `#token=<jwt>` in the URL: it is moved to sessionStorage and sent as a Bearer header.
//
// Incomplete bars (complete = false: a resampled bar whose interval the stored bars do not
// fully cover, e.g. six hours of a session as a "daily" bar) are drawn as a second, grey
// and translucent candlestick trace, named "incomplete", and counted in the status line.
// Without a timeframe in the URL the page shows 1d, or the finest stored timeframe when the
// stored data spans less than SHORT_DAYS (six 1h bars would be one partial "daily" candle).
//
// What a person reads: a session market's intraday bars, and any one or two bars, sit
// evenly spaced with a few readable labels (never an axis of milliseconds around one
// point), all inside the chart; a failed load clears the chart, so an error never stands above a chart of another
// request. Symbols and descriptions are text: plotly reads titles and trace names as HTML,
// so they are escaped first. The symbol box lists the warehouse's instruments (symbols.js).
//
// State for tests and embedding: window.candleflowChart = {state, barCount, incomplete,
// symbol, timeframe, ...}, mirrored on #chart as data-state / data-bar-count /
// data-incomplete / data-timeframe once the chart has drawn.
"use strict";

(function () {
  const TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "45m", "1h", "2h", "3h", "4h", "1d", "1w", "1mo"];
  const MAX_BARS = 100000; // stop following `next` pages past this many bars
  const SHORT_DAYS = 60; // stored data shorter than this is shown in its finest timeframe
  const DAY_MS = 86400000;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const TICKS = 8; // time labels on a session market's evenly spaced intraday axis
  const FEW = 3; // fewer bars than this are spaced evenly too (see draw)
  const TOKEN_KEY = "candleflow.token";
  const $ = (id) => document.getElementById(id);
  const chart = $("chart");
  const instruments = new Map();
  const status = window.candleflowChart = { state: "idle", barCount: 0, incomplete: 0 };
  let timeframeChosen = false; // by the URL or the person: then never picked for them
  let latest = 0; // the newest load: an older one that finishes later draws nothing
  let symbolBox = null;

  // plotly renders titles and trace names as (a subset of) HTML: text goes in escaped.
  const esc = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

  // Where an evenly spaced axis gets its labels: at most TICKS bars a round step apart from
  // the first (1m bars from 13:30: 14:30, 15:30 ...), none in the last 3% of the axis (a
  // label centred there would stick out of the chart); evenly spaced bars if no step fits.
  function roundTicks(x) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 7200, 10080];
    const minutes = x.map((ts) => Date.parse(ts) / 60000);
    const room = Math.max(1, Math.floor(x.length * 0.97));
    for (const step of steps) {
      const picked = x.filter((_, i) => i < room && (minutes[i] - minutes[0]) % step === 0);
      if (picked.length <= TICKS && picked.length >= 2) return picked;
    }
    const every = Math.max(1, Math.ceil(x.length / TICKS));
    return x.filter((_, i) => i < room && i % every === 0);
  }

  // The label of an evenly spaced bar, in UTC as the date axes show: "Jul 2 13:30", or
  // "Jul 2, 2024" for daily and longer bars.
  function label(ts, intraday) {
    const d = new Date(ts);
    const day = MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    if (!intraday) return day + ", " + d.getUTCFullYear();
    return day + " " + String(d.getUTCHours()).padStart(2, "0") + ":"
      + String(d.getUTCMinutes()).padStart(2, "0");
  }

  function clear() {
    Plotly.purge(chart);
    chart.replaceChildren();
  }

  function takeTokenFromFragment() {
    const match = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(path, { headers, credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) {
      throw new Error("Not logged in: open this page from the Airflow UI, or add #token=<jwt>");
    }
    if (!response.ok) throw new Error(body.detail || response.status + " " + response.statusText);
    return body;
  }

  function say(text, isError) {
    $("status").textContent = text;
    $("status").classList.toggle("error", Boolean(isError));
  }

  function setState(state, extra) {
    Object.assign(status, { state }, extra || {});
    chart.dataset.state = state;
    chart.dataset.barCount = String(status.barCount);
    chart.dataset.incomplete = String(status.incomplete);
    chart.dataset.timeframe = status.timeframe || "";
  }

  const isoDate = (date) => date.toISOString().slice(0, 10);

  function setRange(days, until) {
    const end = until || new Date();
    $("end").value = isoDate(end);
    $("start").value = isoDate(new Date(end.getTime() - days * 86400000));
  }

  // Without a range in the URL, show the year up to the symbol's latest data (the latest
  // quote falls back to the last bar), which may be long before today for history loads.
  async function rangeToLatest(symbol) {
    try {
      const quotes = await api("api/v1/quotes?symbols=" + encodeURIComponent(symbol));
      const latest = quotes.items.length && quotes.items[0].ts ? new Date(quotes.items[0].ts) : null;
      setRange(365, latest || undefined);
    } catch (error) {
      setRange(365);
    }
  }

  // The default timeframe for a symbol: 1d when stored; else the finest stored one if its
  // data spans less than SHORT_DAYS; else 1d (resampled from the finest stored).
  async function defaultTimeframe(symbol) {
    try {
      const item = await api("api/v1/instruments/" + encodeURIComponent(symbol));
      const stored = item.timeframes || [];
      if (!stored.length || stored.some((t) => t.timeframe === "1d")) return "1d";
      const finest = stored[0];
      const span = Date.parse(finest.last) - Date.parse(finest.first);
      return span < SHORT_DAYS * DAY_MS ? finest.timeframe : "1d";
    } catch (error) {
      return "1d";
    }
  }

  async function fetchBars(symbol, timeframe, start, end) {
    const bars = [];
    let from = start;
    while (from && bars.length < MAX_BARS) {
      const query = new URLSearchParams({ timeframe, start: from, end, limit: "50000" });
      const page = await api("api/v1/bars/" + encodeURIComponent(symbol) + "?" + query);
      bars.push(...page.bars);
      from = page.next;
      say("Loading " + symbol + ": " + bars.length + " bars…");
    }
    return bars;
  }

  function draw(symbol, timeframe, bars) {
    if (!bars.length) {
      clear();
      return Promise.resolve();
    }
    const x = bars.map((b) => b.ts);
    const up = bars.map((b) => (b.complete === false ? "#9aa5b1" : b.close >= b.open ? "#26a69a" : "#ef5350"));
    const info = instruments.get(symbol) || {};
    const session = info.session || "24x7";
    const intraday = !["1d", "1w", "1mo"].includes(timeframe);
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const xaxis = { rangeslider: { visible: false }, showgrid: false, type: "date", automargin: true };
    if ((session !== "24x7" && intraday) || bars.length < FEW) {
      // Evenly spaced bars. A session market's nights and weekends would dwarf its intraday
      // candles; and a date axis around one or two bars is a fraction of a millisecond wide
      // (or, ranged by hand, draws the candle as a hairline).
      const picked = intraday ? roundTicks(x) : x;
      Object.assign(xaxis, {
        type: "category", tickmode: "array", tickvals: picked,
        ticktext: picked.map((ts) => label(ts, intraday)), tickangle: 0,
      });
    } else if (session !== "24x7") {
      xaxis.rangebreaks = [{ bounds: ["sat", "mon"] }];
    }
    const candles = (subset, name, colors, extra) => Object.assign({
      type: "candlestick", name, x: subset.map((b) => b.ts), open: subset.map((b) => b.open),
      high: subset.map((b) => b.high), low: subset.map((b) => b.low),
      close: subset.map((b) => b.close), yaxis: "y2",
      increasing: { line: { color: colors[0] } }, decreasing: { line: { color: colors[1] } },
    }, extra || {});
    const partial = bars.filter((b) => b.complete === false);
    const traces = [
      candles(bars.filter((b) => b.complete !== false), esc(symbol), ["#26a69a", "#ef5350"]),
      { type: "bar", name: "volume", x, y: bars.map((b) => b.volume), yaxis: "y",
        marker: { color: up }, opacity: 0.6 },
    ];
    if (partial.length) {
      // Incomplete: grey, translucent, hollow either way, and said so on hover.
      traces.splice(1, 0, candles(partial, "incomplete", ["#9aa5b1", "#9aa5b1"], {
        opacity: 0.55, hovertext: "incomplete: not every bar of this interval is stored",
        increasing: { line: { color: "#9aa5b1", width: 1 }, fillcolor: "rgba(0,0,0,0)" },
        decreasing: { line: { color: "#9aa5b1", width: 1 }, fillcolor: "rgba(0,0,0,0)" },
      }));
    }
    const title = [symbol, timeframe, info.description].filter(Boolean).map(esc).join(" · ");
    const layout = {
      title: { text: title, x: 0.01 }, showlegend: false,
      margin: { l: 60, r: 30, t: 40, b: 40 }, xaxis,
      yaxis: { domain: [0, 0.2], title: { text: "Volume" } },
      yaxis2: { domain: [0.25, 1], title: { text: "Price" } },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: dark ? "#e4e7eb" : "#1f2933" },
    };
    return Plotly.react(chart, traces, layout, { responsive: true, displaylogo: false });
  }

  async function load(event) {
    if (event) event.preventDefault();
    const symbol = $("symbol").value.trim();
    const timeframe = $("timeframe").value;
    const start = $("start").value;
    const end = $("end").value;
    if (!symbol) return;
    const mine = ++latest;
    history.replaceState(null, "", "?" + new URLSearchParams({ symbol, timeframe, start, end }));
    setState("loading", { barCount: 0, incomplete: 0, symbol, timeframe, start, end });
    try {
      // The "To" day is inclusive for a person; the API's end is exclusive.
      const until = isoDate(new Date(Date.parse(end) + 86400000));
      const bars = await fetchBars(symbol, timeframe, start, until);
      if (mine !== latest) return;
      await draw(symbol, timeframe, bars);
      const incomplete = bars.filter((b) => b.complete === false).length;
      setState("ready", { barCount: bars.length, incomplete });
      const partly = incomplete ? " (" + incomplete + " incomplete, drawn grey)" : "";
      say(bars.length ? plural(bars.length, "bar") + partly
        : "No bars stored for " + symbol + " in this range");
      showRejected(symbol, timeframe, start, until, mine);
    } catch (error) {
      if (mine !== latest) return;
      clear(); // the chart of the previous request must not stand under this error
      setState("error", { error: String(error.message || error) });
      say(symbol + " " + timeframe + ": " + status.error, true);
    }
  }

  // The series' rejected bars in the range, linking to their Data Docs pages (the rules
  // they broke and their values); hidden when there are none.
  async function showRejected(symbol, timeframe, start, end, mine) {
    const link = $("rejected");
    link.hidden = true;
    try {
      const q = new URLSearchParams({ timeframe, start, end });
      const info = await api("data-docs/symbols/" + encodeURIComponent(symbol) + "/rejected?" + q);
      if (mine !== latest || !info.rejected) return;
      link.textContent = plural(info.rejected, "rejected bar");
      link.href = info.href;
      link.hidden = false;
      chart.dataset.rejected = String(info.rejected);
    } catch (error) {
      link.hidden = true; // the chart stands without the count
    }
  }

  // A symbol picked from the list or typed anew: its own timeframe (unless one was chosen)
  // and range, then the chart.
  async function chooseSymbol(symbol) {
    $("symbol").value = symbol;
    if (!timeframeChosen) $("timeframe").value = await defaultTimeframe(symbol);
    await rangeToLatest(symbol);
    await load();
  }

  function submit(event) {
    event.preventDefault();
    const symbol = $("symbol").value.trim();
    if (symbolBox) symbolBox.close();
    if (symbol && symbol !== status.symbol) chooseSymbol(symbol);
    else load();
  }

  async function init() {
    takeTokenFromFragment();
    const params = new URLSearchParams(location.search);
    for (const tf of TIMEFRAMES) $("timeframe").add(new Option(tf, tf));
    $("timeframe").value = params.get("timeframe") || "1d";
    timeframeChosen = Boolean(params.get("timeframe"));
    const explicitRange = Boolean(params.get("start") && params.get("end"));
    if (explicitRange) {
      $("start").value = params.get("start");
      $("end").value = params.get("end");
    }
    document.querySelectorAll("#presets button").forEach((button) => {
      button.addEventListener("click", () => { setRange(Number(button.dataset.days)); load(); });
    });
    $("controls").addEventListener("submit", submit);
    $("timeframe").addEventListener("change", () => { timeframeChosen = true; load(); });
    symbolBox = window.candleflowSymbolBox($("symbol"), $("symbol-list"), chooseSymbol);
    try {
      const list = await api("api/v1/instruments?limit=50000");
      for (const item of list.items) instruments.set(item.symbol, item);
      symbolBox.setItems(list.items);
      $("symbol").value = params.get("symbol") || (list.items[0] || {}).symbol || "";
      if ($("symbol").value && !timeframeChosen) {
        $("timeframe").value = await defaultTimeframe($("symbol").value);
      }
      if ($("symbol").value && !explicitRange) await rangeToLatest($("symbol").value);
      if ($("symbol").value) await load();
      else say("No instruments stored yet: run a sync DAG first");
    } catch (error) {
      setState("error", { error: String(error.message || error) });
      say(status.error, true);
    }
  }

  init();
})();
