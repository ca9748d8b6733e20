/* uwsgi_reload: refresh this page once the uWSGI instance serves new code.
 *
 * Injected by uwsgi-reload-browser = true into the HTML pages of a development
 * server. It asks <status> (a few bytes: the instance's generation) every
 * <interval> ms while the tab is visible, and refreshes the page the first
 * time the answer differs from the generation the page was served by.
 * No dependency, no build step; served as a file so a "script-src 'self'"
 * policy allows it.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__uwsgiReload) {
    return; // injected twice (an HTML fragment swapped into the page): one poller is enough
  }
  var state = window.__uwsgiReload = {
    generation: me.getAttribute("data-generation"),
    statusUrl: me.getAttribute("data-status"),
    interval: Number(me.getAttribute("data-interval")) || 1000,
    polls: 0,
    failures: 0,
    timer: null,
    inflight: false,
    stopped: false
  };
  // While the instance does not answer at all (the http = router is down
  // during a reload), ask again soon, then back off to once every 5 s.
  var RETRY = 250;
  var MAX_RETRY = 5000;
  var TIMEOUT = 30000;
  var KEY = "uwsgi_reload:refreshed";

  function hidden() {
    return document.visibilityState === "hidden";
  }

  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = null;
    if (!state.stopped && !state.inflight && !hidden()) {
      state.timer = setTimeout(poll, delay);
    }
  }

  function poll() {
    state.timer = null;
    if (state.stopped || state.inflight || hidden()) {
      return;
    }
    state.inflight = true;
    state.polls += 1;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var deadline = controller && setTimeout(function () { controller.abort(); }, TIMEOUT);
    fetch(state.statusUrl, {
      cache: "no-store",
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (response.ok) {
        return response.text();
      }
      // A proxy in front says the instance is away: like no answer at all.
      if (response.status === 502 || response.status === 503 || response.status === 504) {
        return null;
      }
      // The instance answers, but not with our status: it runs without
      // uwsgi-reload-browser now, which is new code too.
      return "HTTP " + response.status;
    }).then(function (now) {
      finish(now === null ? null : now.trim());
    }, function () {
      finish(null);
    });

    function finish(now) {
      clearTimeout(deadline);
      state.inflight = false;
      if (now === null) {
        state.failures += 1;
        schedule(Math.min(MAX_RETRY, RETRY * Math.pow(2, Math.max(0, state.failures - 4))));
        return;
      }
      state.failures = 0;
      if (now !== state.generation && !hidden()) {
        refresh(now);
        return;
      }
      schedule(state.interval); // hidden: visibilitychange asks again on return
    }
  }

  function refresh(now) {
    // At most one refresh per new generation and page: a page that still
    // shows an older instance after that (a cached copy) stays as it is
    // rather than refreshing in a loop.
    var mark = now + " " + location.href;
    var before = null;
    try {
      before = window.sessionStorage.getItem(KEY);
      window.sessionStorage.setItem(KEY, mark);
    } catch (error) {
      // no sessionStorage (a sandboxed frame): the generation check alone guards
    }
    state.stopped = true;
    if (before === mark) {
      console.warn("uwsgi_reload: this page still comes from an older instance after a refresh; not refreshing again");
      return;
    }
    location.reload();
  }

  document.addEventListener("visibilitychange", function () {
    schedule(0); // hidden: just stops; visible again: asks at once
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      schedule(0); // restored from the back/forward cache
    }
  });
  schedule(state.interval);
})();
