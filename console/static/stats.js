// Statistics page: /api/stats for the range, drawn with uPlot (vendored, MIT).
"use strict";

const FUNNEL = [
  ["funnel_menu", "Vào menu"], ["funnel_code", "Nhập mã hồ sơ"], ["funnel_found", "Tìm thấy hồ sơ"],
  ["funnel_status", "Nghe trạng thái"], ["funnel_officer", "Chuyển cán bộ"],
];
const KIND_VI = {
  received: "Đã tiếp nhận", supplement: "Cần bổ sung", fee: "Nộp phí", ready: "Có kết quả",
  delayed: "Trễ hẹn", soon: "Sắp đến hẹn", uncollected: "Chưa nhận kết quả",
};
const COLORS = ["#1f6fb2", "#2e8540", "#c2410c", "#7c3aed", "#0f766e"];
const charts = {};

function el(id) { return document.getElementById(id); }
function fmt(n) { return (n ?? 0).toLocaleString("vi-VN"); }
// As messages/formats.py writes a percentage: a decimal comma, "100,0 %".
function pct(x) { return x.toFixed(1).replace(".", ",") + " %"; }
function vnDay(iso) { const [y, m, d] = iso.split("-"); return d + "/" + m + "/" + y; }

function card(label, value) {
  const div = document.createElement("div"); div.className = "card";
  const b = document.createElement("b"); b.textContent = value;
  div.append(b, label);
  return div;
}

function row(cells) {
  const tr = document.createElement("tr");
  cells.forEach((text, i) => {
    const td = document.createElement("td"); td.textContent = text;
    if (i > 0) td.className = "n";
    tr.append(td);
  });
  return tr;
}

// Days are office days: drawn on a UTC axis so no browser zone shifts them.
function chart(id, xs, series, bars) {
  if (charts[id]) charts[id].destroy();
  const width = Math.min(960, el(id).parentElement.clientWidth || 960);
  const opts = {
    width, height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: bars ? { x: { time: false } } : {},
    // Whole days on the axis (dd/mm), never hours: a point is an office day.
    axes: bars ? [{ values: (u, vals) => vals.map((v) => v + "h") }, {}]
      : [{ space: 50, incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400],
           values: (u, vals) => vals.map((v) => vnDay(new Date(v * 1e3).toISOString().slice(0, 10)).slice(0, 5)) }, {}],
    series: [{ label: bars ? "Giờ" : "Ngày", value: bars ? (u, v) => v + "h" : (u, v) => v == null ? "" : vnDay(new Date(v * 1e3).toISOString().slice(0, 10)) },
      ...series.map(([label], i) => ({
        label, stroke: COLORS[i], width: 2,
        fill: bars ? COLORS[i] + "99" : undefined,
        paths: bars ? uPlot.paths.bars({ size: [0.8] }) : undefined,
      }))],
  };
  charts[id] = new uPlot(opts, [xs, ...series.map(([, values]) => values)], el(id));
}

// The API lists only the days that have data; the axis spans the whole range asked for,
// with 0 on a quiet day (a lone day of data otherwise stretched the axis over years, and a
// line joined two busy days across the quiet ones between them).
function everyDay(s) {
  const byDay = new Map(s.days.map((d) => [d.day, d]));
  const days = [];
  const end = Date.parse(s.end + "T00:00:00Z");
  for (let t = Date.parse(s.start + "T00:00:00Z"); t <= end; t += 86400e3) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push(byDay.get(day) ?? { day });
  }
  return days;
}

function draw(s) {
  const days = everyDay(s);
  const xs = days.map((d) => Date.parse(d.day + "T00:00:00Z") / 1000);
  const col = (m) => days.map((d) => d[m] ?? 0);
  const t = s.totals;
  const rate = s.delivery_rate == null ? "—" : pct(s.delivery_rate * 100);
  el("totals").replaceChildren(
    card("cuộc gọi", fmt(t.calls)), card("được phục vụ", fmt(t.answered)),
    card("bỏ máy giữa chừng", fmt(t.abandoned)), card("SMS đến", fmt(t.sms_in)),
    card("SMS đi", fmt(t.sms_out)), card("tỉ lệ SMS đến máy", rate),
  );
  chart("chart-days", xs, [["Cuộc gọi", col("calls")], ["Được phục vụ", col("answered")], ["Bỏ máy", col("abandoned")]]);
  chart("chart-hours", s.hours.map((h) => h.hour), [["Cuộc gọi", s.hours.map((h) => h.calls ?? 0)]], true);
  chart("chart-channels", xs, [["Điện thoại", col("lookup_voice")], ["SMS", col("lookup_sms")],
    ["Web", col("lookup_web")], ["Ki-ốt", col("lookup_kiosk")]]);
  chart("chart-sms", xs, [["SMS đến", col("sms_in")], ["SMS đi", col("sms_out")], ["Đã đến máy", col("sms_delivered")], ["Lỗi", col("sms_failed")]]);
  const first = t.funnel_menu || 0;
  el("funnel").tBodies[0].replaceChildren(...FUNNEL.map(([m, label]) =>
    row([label, fmt(t[m]), first ? pct((100 * (t[m] ?? 0)) / first) : "—"])));
  el("reminders").tBodies[0].replaceChildren(...(s.reminder_kinds.length ? s.reminder_kinds.map((k) =>
    row([KIND_VI[k] ?? k, fmt(t["reminder_sent:" + k]), fmt(t["reminder_deferred:" + k]), fmt(t["reminder_failed:" + k])]))
    : [row(["Chưa có tin nhắc hẹn nào trong khoảng này.", "", "", ""])]));
}

// Without a range the server picks the last 30 office days (its clock, not the browser's).
async function load() {
  const from = el("from").value, to = el("to").value;
  const query = from && to ? "?from=" + from + "&to=" + to : "";
  const response = await fetch("/api/stats" + query);
  const body = await response.json();
  if (!response.ok) { el("error").textContent = body.error; return; }
  el("error").textContent = "";
  el("from").value = body.start; el("to").value = body.end;
  const range = "?from=" + body.start + "&to=" + body.end;
  if (el("csv")) el("csv").href = "/api/stats.csv" + range;  // admins only
  history.replaceState(null, "", "/stats" + range);
  draw(body);
  document.body.dataset.loaded = body.start + ".." + body.end;  // tests wait for this
}

const params = new URLSearchParams(location.search);
el("from").value = params.get("from") ?? "";
el("to").value = params.get("to") ?? "";
el("range").addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
