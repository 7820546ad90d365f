/* A stand-in for Zendesk's app SDK (zaf_sdk.min.js) in the browser tests: ZAFClient.init() gives a client whose
 * get, on, invoke and set work on window.__zaf, which the test drives. The test puts the ticket's data in
 * window.__zafData before this file runs (and, to play Zendesk failing, the paths it cannot read in
 * window.__zafFailing). Like Zendesk, a ticket.save handler holds the save back by returning
 * false or a promise that rejects (with the message to show); save() says what happened. */
(function () {
  "use strict";

  const handlers = {};
  const zaf = {
    data: window.__zafData || {},
    failing: window.__zafFailing || {}, // path -> the error message Zendesk gives for it
    down: null, // set to a message: every get rejects with it
    invoked: [],
    sets: [],
    trigger(name, ...args) {
      return Promise.all((handlers[name] || []).map((handler) => Promise.resolve().then(() => handler(...args))));
    },
    save() {
      return zaf.trigger("ticket.save").then(
        (results) => (results.includes(false) ? { saved: false, message: "" } : { saved: true }),
        (reason) => ({ saved: false, message: String((reason && reason.message) || reason) }));
    },
    comment(text, type) {
      zaf.data["ticket.comment"] = { text, type: type || "publicReply" };
      return zaf.trigger("comment.text.changed", text);
    },
  };

  const client = {
    get(paths) {
      if (zaf.down) return Promise.reject(new Error(zaf.down));
      const found = {};
      for (const path of Array.isArray(paths) ? paths : [paths]) {
        // As Zendesk answers a path it could not read: no value, an entry in `errors`.
        if (zaf.failing[path]) found.errors = Object.assign(found.errors || {}, { [path]: { message: zaf.failing[path] } });
        else found[path] = zaf.data[path];
      }
      return Promise.resolve(found);
    },
    on(name, handler) {
      (handlers[name] = handlers[name] || []).push(handler);
    },
    invoke(name, ...args) {
      zaf.invoked.push([name, ...args]);
      if (name === "comment.appendText") {
        const comment = zaf.data["ticket.comment"] || { text: "", type: "publicReply" };
        zaf.comment((comment.text || "") + args[0], comment.type);
      }
      return Promise.resolve({});
    },
    set(path, value) {
      zaf.sets.push([path, value]);
      if (path === "comment.text") zaf.comment(value, (zaf.data["ticket.comment"] || {}).type);
      return Promise.resolve({ [path]: value });
    },
  };

  window.__zaf = zaf;
  window.ZAFClient = { init: () => client };
})();
