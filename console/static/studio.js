// Prompt studio: record with MediaRecorder or upload; the server runs the same checks,
// levelling and conversion as `tracuu prompts import`; the draft plays at 8 kHz.
"use strict";

const SOURCE_VI = { recorded: "bản thu", tts: "giọng máy (tạm)", missing: "thiếu" };
const STATE_VI = { live: "đang dùng", draft: "bản nháp", approved: "đã duyệt trước đây", rolled_back: "đã thôi dùng (quay lại bản trước)", placeholder: "giọng máy" };
let selected = null;
let recorder = null;

function el(id) { return document.getElementById(id); }
function badge(text, cls) { const s = document.createElement("span"); s.className = "badge " + cls; s.textContent = text; return s; }
function say(text, error) { el("message").textContent = text; el("message").className = error ? "error" : ""; }
async function json(response) { const body = await response.json(); if (!response.ok) throw new Error(body.error); return body; }

async function loadList() {
  const { prompts } = await json(await fetch("/api/studio/prompts"));
  const body = el("list").querySelector("tbody");
  body.replaceChildren(...prompts.map((p) => {
    const tr = document.createElement("tr"); tr.dataset.id = p.id;
    if (selected && selected.id === p.id) tr.className = "selected";
    const name = document.createElement("td");
    const words = document.createElement("div"); words.textContent = p.text;
    const id = document.createElement("small"); id.textContent = p.id;
    name.append(words, id);
    const flags = document.createElement("td");
    flags.append(badge(SOURCE_VI[p.source] + (p.version != null ? " v" + p.version : ""), p.source));
    if (p.stale) flags.append(" ", badge("kịch bản đã đổi", "stale"));
    if (p.drafts.length) flags.append(" ", badge(p.drafts.length + " bản nháp", "draft"));
    tr.append(name, flags);
    tr.addEventListener("click", () => select(p));
    return tr;
  }));
  document.body.dataset.prompts = String(prompts.length);
  return prompts;
}

async function select(prompt) {
  selected = prompt;
  for (const tr of el("list").querySelectorAll("tr")) tr.classList.toggle("selected", tr.dataset.id === prompt.id);
  el("detail").hidden = false;
  el("prompt-id").textContent = prompt.id;
  el("script").textContent = prompt.text;
  el("now-playing").textContent = "Người gọi đang nghe: " + SOURCE_VI[prompt.source]
    + (prompt.version != null ? " (phiên bản " + prompt.version + (prompt.by ? ", " + prompt.by : "") + ")" : "")
    + (prompt.stale ? " — bản này đọc kịch bản cũ" : "");
  el("play-live").disabled = prompt.source === "missing";
  say("");
  await loadVersions();
}

async function loadVersions() {
  const detail = await json(await fetch("/api/studio/prompts/" + selected.id));
  el("versions").tBodies[0].replaceChildren(...detail.versions.map((v) => {
    const tr = document.createElement("tr"); tr.dataset.version = v.number;
    for (const text of ["v" + v.number, STATE_VI[v.state] ?? v.state, v.created_at, v.by + (v.file_name ? " (" + v.file_name + ")" : ""), v.duration]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    const actions = document.createElement("td");
    const listen = document.createElement("button"); listen.textContent = "▶ Nghe"; listen.className = "listen";
    listen.addEventListener("click", () => play(v.audio));
    actions.append(listen);
    if (v.state === "draft" || v.state === "rolled_back") actions.append(" ", action("Duyệt", "approve", v.number));
    if (v.state === "approved" || v.state === "placeholder") actions.append(" ", action("Dùng lại bản này", "rollback", v.number));
    tr.append(actions);
    return tr;
  }));
  el("history").replaceChildren(...detail.history.map((line) => { const li = document.createElement("li"); li.textContent = line; return li; }));
}

function action(label, rule, number) {
  const button = document.createElement("button"); button.textContent = label; button.className = rule;
  button.addEventListener("click", async () => {
    try {
      await json(await fetch("/api/studio/prompts/" + selected.id + "/" + rule, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ version: number }) }));
      say("Phiên bản " + number + " đã được đưa vào sử dụng: người gọi nghe bản này từ cuộc gọi tiếp theo.");
      const prompts = await loadList();
      await select(prompts.find((p) => p.id === selected.id));
      say("Phiên bản " + number + " đã được đưa vào sử dụng: người gọi nghe bản này từ cuộc gọi tiếp theo.");
    } catch (error) { say(error.message, true); }
  });
  return button;
}

function play(url) {
  const player = el("player");
  player.src = url + (url.includes("?") ? "&" : "?") + "t=" + Date.now();
  player.play().catch(() => {});
}

async function send(blob, name) {
  const form = new FormData();
  form.append("audio", blob, name);
  say("Đang xử lý bản ghi (kiểm tra, cân mức âm, chuyển định dạng)…");
  try {
    const done = await json(await fetch("/api/studio/prompts/" + selected.id + "/recordings", { method: "POST", body: form }));
    say("Đã lưu bản nháp v" + done.version + " (" + done.duration + "). Nghe thử như người gọi sẽ nghe, rồi bấm Duyệt.");
    await loadVersions();
    await loadList();
    play(done.audio);
    document.body.dataset.draft = String(done.version);
  } catch (error) { say(error.message, true); }
}

el("play-live").addEventListener("click", () => play("/api/try/audio/" + selected.id + ".wav"));
el("file").addEventListener("change", (event) => { const file = event.target.files[0]; if (file) send(file, file.name); event.target.value = ""; });
el("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch { say("Trình duyệt không cho dùng micro.", true); return; }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    el("record").classList.remove("on"); el("record").textContent = "● Thu âm";
    recorder = null;
    send(new Blob(chunks, { type: chunks[0]?.type || "audio/webm" }), "ghi-am.webm");
  };
  recorder.start();
  el("record").classList.add("on"); el("record").textContent = "■ Dừng thu";
  say("Đang thu… đọc kịch bản ở trên, rồi bấm Dừng thu.");
});

loadList();
