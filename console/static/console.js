// Every state-changing fetch() to this console carries the session's CSRF token
// (console/csrf.py refuses it otherwise). Pages need nothing more than this script.
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.content : "";
  const plain = window.fetch.bind(window);
  window.fetch = function (input, init) {
    init = init || {};
    const method = (init.method || (input instanceof Request ? input.method : "GET")).toUpperCase();
    const url = new URL(input instanceof Request ? input.url : input, location.href);
    if (url.origin === location.origin && !["GET", "HEAD", "OPTIONS"].includes(method)) {
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : {}));
      headers.set("X-CSRF-Token", token);
      init = Object.assign({}, init, { headers: headers, credentials: "same-origin" });
    }
    return plain(input, init);
  };
})();
