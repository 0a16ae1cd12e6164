// Try a call: the browser is the caller's ear and keypad; the console plays Asterisk
// against the real FastAGI server (console/trycall.py). A key pressed while a prompt
// plays is sent; the server says "stop" when the prompt takes it (barge-in).
"use strict";

const player = document.getElementById("player");
const list = document.getElementById("prompts");
let socket = null;
let playing = null;  // { seq, li }

function el(id) { return document.getElementById(id); }
function state(text) { el("call-state").textContent = text; }
function send(message) { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message)); }

function finish(seq) {
  if (!playing || playing.seq !== seq) return;
  playing.li.classList.remove("playing");
  playing = null;
  send({ type: "ended", seq });
}

function play(message) {
  const li = document.createElement("li");
  li.dataset.prompt = message.prompt;
  const words = document.createElement("span"); words.className = "words"; words.textContent = message.words;
  const id = document.createElement("span"); id.className = "id"; id.textContent = message.prompt;
  li.append(words, id);
  list.append(li);
  if (!message.audio) { li.classList.add("missing"); id.textContent += " (thiếu tệp: người gọi nghe im lặng)"; return; }
  li.classList.add("playing");
  playing = { seq: message.seq, li };
  player.src = message.audio;
  player.onended = () => finish(message.seq);
  player.onerror = () => { li.classList.add("missing"); finish(message.seq); };
  player.play().catch(() => { id.textContent += " (trình duyệt không phát được)"; finish(message.seq); });
}

function stop(message) {
  if (!playing || playing.seq !== message.seq) return;
  player.pause();
  playing.li.classList.remove("playing");
  playing.li.classList.add("interrupted");
  playing = null;
}

function dial() {
  list.replaceChildren();
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/api/try/call");
  socket.onopen = () => {
    send({ type: "start", caller: el("caller").value });
    state("Đang gọi…"); el("dial").disabled = true; el("hangup").disabled = false;
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "play") { state("Đang nghe…"); play(message); }
    else if (message.type === "stop") stop(message);
    else if (message.type === "listen") state("Đang chờ bấm phím…");
    else if (message.type === "end") { state("Cuộc gọi đã kết thúc."); document.body.dataset.callEnded = message.reason; }
  };
  socket.onclose = () => {
    player.pause(); playing = null;
    el("dial").disabled = false; el("hangup").disabled = true;
    if (!document.body.dataset.callEnded) state("Cuộc gọi đã kết thúc.");
  };
}

el("keypad").addEventListener("click", (event) => {
  const key = event.target.closest("button")?.textContent;
  if (!key) return;
  if (playing) {
    const mark = document.createElement("span"); mark.className = "key"; mark.textContent = "[bấm " + key + "]";
    playing.li.append(mark);
  }
  send({ type: "key", key });
});
el("dial").addEventListener("click", () => { delete document.body.dataset.callEnded; dial(); });
el("hangup").addEventListener("click", () => send({ type: "hangup" }));

el("sms").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/try/sms", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sender: el("sms-sender").value, text: el("sms-text").value }),
  });
  const body = await response.json();
  if (!response.ok) { el("sms-reply").textContent = body.error; el("sms-meta").textContent = ""; return; }
  el("sms-reply").textContent = body.reply || "(không trả lời)";
  el("sms-meta").textContent = "Mã hoá: " + body.encoding + " · " + body.characters + " ký tự · "
    + body.segments + " tin nhắn";
});
