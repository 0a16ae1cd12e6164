// The kiosk: the scanner (or a person) types a code and Enter; the public status shows in
// large text and clears after data-reset-s seconds. Never shows a name or a phone: the
// public look-up has none to give.
(function () {
  const box = document.getElementById("kiosk");
  const input = document.getElementById("code");
  const answer = document.getElementById("answer");
  const status = document.getElementById("status");
  const facts = document.getElementById("facts");
  const message = document.getElementById("message");
  const resetMs = Number(box.dataset.resetS || 10) * 1000;
  let timer = null;

  function vnDate(iso) { if (!iso) return ""; const [y, m, d] = iso.split("-"); return d + "/" + m + "/" + y; }

  function clear() {
    answer.hidden = true; message.hidden = true;
    status.textContent = ""; facts.textContent = ""; message.textContent = "";
    delete document.body.dataset.shown;
    input.value = ""; input.focus();
  }

  function later() { clearTimeout(timer); timer = setTimeout(clear, resetMs); }

  function fact(label, value) {
    if (!value) return;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    facts.append(dt, dd);
  }

  function show(body) {
    status.textContent = body.status_label + (body.overdue ? " (quá hạn)" : "");
    status.className = "status" + (body.ready_on ? " ready" : "") + (body.overdue ? " late" : "");
    facts.textContent = "";
    fact("Mã hồ sơ", body.code);
    fact("Thủ tục", body.procedure);
    fact("Ngày hẹn trả", vnDate(body.effective_due_on));
    if (body.ready_on) fact("Ngày có kết quả", vnDate(body.ready_on));
    fact("Nơi nhận kết quả", body.collection_place);
    answer.hidden = false; message.hidden = true;
  }

  function fail(text) { answer.hidden = true; message.textContent = text; message.hidden = false; }

  document.getElementById("scan").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    input.value = "";
    if (!code) return;
    try {
      const response = await fetch("/api/dossiers/" + encodeURIComponent(code) + "?channel=kiosk");
      const body = await response.json();
      if (response.ok) show(body); else fail(body.error || "Không tra cứu được, vui lòng thử lại.");
    } catch (error) {
      fail("Mất kết nối tới máy chủ, vui lòng thử lại.");
    }
    document.body.dataset.shown = "1";
    later();
    input.focus();
  });
  // A scanner types into whatever has focus: keep it on the input.
  document.addEventListener("click", () => input.focus());
  input.addEventListener("blur", () => setTimeout(() => input.focus(), 0));
})();
