// The live board (console/board.py): every "board" event is the whole picture, so a
// reconnect (EventSource does it by itself, e.g. after a gateway restart) is whole
// again with its first frame. Durations count on the server's clock (frame.now).
"use strict";

// ivr/flow.py stages, in the words an operator uses.
const STAGE_VI = {
  menu: "Menu chính", code: "Nhập mã hồ sơ", looking_up: "Đang tra cứu", choose: "Chọn cơ quan",
  result: "Nghe kết quả", busy: "Hệ thống bận", guides: "Chọn thủ tục", guide: "Nghe hướng dẫn",
  secret: "Nhập mã bí mật", mine: "Hồ sơ của người gọi", ended: "Kết thúc",
};
// sms/pump.py link states (and issue 9's "throttled").
const LINK_VI = {
  up: "đã kết nối (bound)", down: "mất kết nối, đang kết nối lại", connecting: "đang kết nối lại",
  stopped: "đã dừng", refused: "SMSC từ chối đăng nhập", throttled: "SMSC đang giới hạn tốc độ",
  dead: "luồng kết nối bị dừng, đang khởi động lại",
};
const OUTBOX_VI = { queued: "chờ gửi", submitted: "đã gửi, chờ báo nhận" };
// console/board_merge.py: a gateway whose heartbeat moves, one that stopped beating
// (killed, its machine or network gone) and one stopped on purpose.
const STATUS_VI = { up: "Đang hoạt động", down: "Mất liên lạc", stopped: "Đã dừng" };

let latest = null;
let skewMs = 0;  // server clock minus browser clock, from the last frame

function el(id) { return document.getElementById(id); }
function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }
function span(text) { const s = document.createElement("span"); s.textContent = text; return s; }
// "2026-12-03T15:40:12+07:00" -> "15:40:12 +07:00": the office's clock, never the browser's.
function clock(iso) { return iso ? iso.slice(11, 19) + " " + iso.slice(19) : ""; }
function duration(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() + skewMs - Date.parse(iso)) / 1000));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

// "2026-12-03T15:40:12+07:00" -> "03/12 15:40:12".
function dayClock(iso) { return iso ? iso.slice(8, 10) + "/" + iso.slice(5, 7) + " " + iso.slice(11, 19) : ""; }
function number(n) { return Number(n).toLocaleString("vi-VN", { maximumFractionDigits: 1 }); }

function renderCalls(ivr, limit, gateways) {
  const body = document.querySelector("#calls tbody");
  el("calls").classList.toggle("single", gateways <= 1);
  body.replaceChildren();
  if (ivr.calls.length === 0) {
    const tr = document.createElement("tr"); tr.className = "empty";
    const td = cell("Không có cuộc gọi nào."); td.colSpan = 6; tr.append(td); body.append(tr);
  }
  for (const call of ivr.calls) {
    const tr = document.createElement("tr");
    tr.dataset.uniqueid = call.uniqueid;
    const gateway = cell(call.instance); gateway.className = "gateway";
    tr.append(cell(call.uniqueid), gateway, cell(call.caller), cell(STAGE_VI[call.stage] ?? call.stage),
              cell(clock(call.since)), cell(duration(call.since)));
    body.append(tr);
  }
  el("total-calls").textContent = ivr.total + " cuộc gọi";
  const stages = Object.entries(ivr.by_stage).map(([s, n]) => (STAGE_VI[s] ?? s) + ": " + n);
  // The FastAGI server's line limit (agi.max_calls): calls past it hear "all lines busy".
  el("by-stage").textContent = [limit ? "tối đa " + limit + " cuộc cùng lúc" : "", ...stages]
    .filter(Boolean).join(" · ");
  el("more-calls").textContent = ivr.total > ivr.calls.length
    ? "Hiện " + ivr.calls.length + " cuộc gọi lâu nhất trong " + ivr.total + "." : "";
}

function renderLines(lines, limit) {
  const box = el("asterisk");
  if (!lines) { box.replaceChildren(span("Chưa kết nối AMI.")); return; }
  box.replaceChildren(...[
    "Đang dùng: " + lines.channels + (limit ? " / " + limit + " đường" : " kênh"),
    "Trong tổng đài tự động: " + lines.in_ivr,
    "Đang chờ cán bộ: " + lines.waiting,
    "Đang nói chuyện với cán bộ: " + (lines.with_officer ?? 0),
    // Several gateways may watch one Asterisk: each server counts once (board_merge.py).
    ...(lines.servers > 1 ? ["Từ " + lines.servers + " tổng đài Asterisk"] : []),
  ].map(span));
}

// Every gateway instance sharing the database, this one first (console/board_merge.py),
// once there is more than one.
function renderInstances(instances) {
  // One gateway (an office on SQLite): the page is its own, the table would say nothing new.
  el("gateways").hidden = instances.length <= 1;
  const counts = { up: 0, down: 0, stopped: 0 };
  for (const i of instances) counts[i.status] = (counts[i.status] ?? 0) + 1;
  el("gateway-totals").textContent = instances.length + " máy chủ: " + counts.up + " đang hoạt động"
    + (counts.down ? ", " + counts.down + " mất liên lạc" : "")
    + (counts.stopped ? ", " + counts.stopped + " đã dừng" : "");
  const body = document.querySelector("#instances tbody");
  body.replaceChildren(...instances.map((i) => {
    const tr = document.createElement("tr");
    tr.className = i.status; tr.dataset.instance = i.id;
    const status = cell(STATUS_VI[i.status] ?? i.status); status.className = "status";
    const lines = i.lines ? i.lines.channels + (i.line_limit ? " / " + i.line_limit : "") : "";
    // Its binds bound out of its binds; a gateway without a bind list says its link's state.
    const sms = i.binds > 0 ? i.binds_up + "/" + i.binds + " đã kết nối"
      : (i.link ? LINK_VI[i.link] ?? i.link : "");
    const lag = i.lag ? number(i.lag.p99_ms) + " ms" : "";
    tr.append(cell(i.id + (i.me ? " (máy này)" : "")), status, cell(i.calls ?? "—"), cell(lines),
              cell(sms), cell(lag), cell(i.version), cell(dayClock(i.started)), cell(clock(i.seen)));
    return tr;
  }));
}

function renderSms(sms, queues, binds, gateways) {
  el("sms").textContent = sms.link
    ? "SMSC: " + (LINK_VI[sms.link] ?? sms.link) + (sms.detail ? " (" + sms.detail + ")" : "")
    : "Chưa có thông tin kết nối SMSC.";
  // More than one bind (one per network, or one per gateway): each with its state,
  // throttles and reconnects, and with several gateways which one holds it.
  el("binds").replaceChildren(...(binds.length > 1 ? binds : []).map((b) => span(
    b.bind + (gateways > 1 && b.instance ? " (" + b.instance + ")" : "") + ": "
    + (LINK_VI[b.state] ?? b.state) + (b.detail ? " (" + b.detail + ")" : "")
    + " · bị giới hạn " + (b.throttled ?? 0) + " lần · kết nối lại " + (b.reconnects ?? 0) + " lần")));
  const outbox = Object.entries(queues.outbox ?? {}).map(([s, n]) => (OUTBOX_VI[s] ?? s) + ": " + n);
  el("outbox").textContent = "Hộp thư đi: " + (outbox.length ? outbox.join(", ") : "trống");
  const r = queues.reminders ?? { due: 0, held: 0 };
  el("reminders").textContent = "Tin nhắc hẹn chờ gửi: " + r.due + ", hoãn đến giờ gửi: " + r.held
    + (queues.notify_calls !== undefined ? " · Cuộc gọi báo kết quả chờ gọi: " + queues.notify_calls : "");
}

function gatewayCount() { return (latest.instances ?? []).length; }

function render() {
  if (!latest) return;
  renderInstances(latest.instances ?? []);
  renderCalls(latest.ivr, latest.line_limit, gatewayCount());
  renderLines(latest.lines, latest.line_limit);
  renderSms(latest.sms, latest.queues, latest.binds ?? [], gatewayCount());
}

function connect() {
  const source = new EventSource("/events");
  source.onopen = () => { el("status").textContent = "Đang cập nhật trực tiếp."; };
  source.onerror = () => { el("status").textContent = "Mất kết nối, đang thử lại…"; };
  source.addEventListener("board", (event) => {
    latest = JSON.parse(event.data);
    if (latest.now) skewMs = Date.parse(latest.now) - Date.now();
    render();
  });
}

connect();
setInterval(() => { if (latest) renderCalls(latest.ivr, latest.line_limit, gatewayCount()); }, 1000);  // durations tick
