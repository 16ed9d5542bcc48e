// The Server Options form's script, inlined by templates/form.html. It only toggles what
// the server rendered: which image runs on which instance type, and the image to take
// instead, come from the page (data-unfit, data-default-image); another group's lists
// come from the same page fetched for that group. The form works without it.
(function () {
  "use strict";
  var root = document.getElementById("primehub-options");
  if (!root) return;
  root.classList.add("ph-js");
  var select = document.getElementById("ph-group");
  var status = document.getElementById("ph-group-status");
  // What the person picked in each group, put back when they return to it.
  var picked = {};
  // Only the answer to the latest switch is shown.
  var latest = 0;

  function section() {
    return root.querySelector("section.ph-group");
  }
  function radios(sec, name) {
    return Array.prototype.slice.call(sec.querySelectorAll('input[name="' + name + '"]'));
  }
  function checked(sec, name) {
    return radios(sec, name).filter(function (r) { return r.checked; })[0];
  }
  function remember(sec) {
    var mine = picked[sec.dataset.group] = picked[sec.dataset.group] || {};
    ["instance_type", "image"].forEach(function (name) {
      var radio = checked(sec, name);
      if (radio) mine[name] = radio.value;
    });
  }
  function say(text, error) {
    status.textContent = text;
    status.classList.toggle("ph-status-error", !!error);
  }

  // An image that does not run on the chosen instance type is disabled, with its reason
  // shown; the person's pick comes back when it runs again, else the instance type's
  // default image is taken.
  function fitImages(sec) {
    var it = checked(sec, "instance_type");
    var images = radios(sec, "image");
    images.forEach(function (img) {
      if (img.hasAttribute("data-blocked")) return;
      var unfit = !!it && (img.dataset.unfit || "").split(" ").indexOf(it.value) >= 0;
      img.disabled = unfit;
      var why = img.closest("label").querySelector(".ph-unfit-why");
      if (why) why.hidden = !unfit;
      if (unfit) img.checked = false;
    });
    var mine = picked[sec.dataset.group] || {};
    var wanted = images.filter(function (r) { return r.value === mine.image; })[0];
    if (wanted && !wanted.disabled) { wanted.checked = true; return; }
    if (it && !checked(sec, "image")) {
      var fallback = images.filter(function (r) { return r.value === it.dataset.defaultImage; })[0];
      if (fallback) fallback.checked = true;
    }
  }

  function restore(sec) {
    var mine = picked[sec.dataset.group] || {};
    ["instance_type", "image"].forEach(function (name) {
      var radio = radios(sec, name).filter(function (r) { return r.value === mine[name]; })[0];
      if (radio && !radio.disabled) radio.checked = true;
    });
    fitImages(sec);
  }

  function switchGroup() {
    var current = section();
    var key = select.value;
    var label = select.options[select.selectedIndex].text;
    var ticket = ++latest;
    if (current) {
      current.setAttribute("aria-busy", "true");
      current.querySelector(".ph-group-fields").disabled = true;  // sends nothing meanwhile
    }
    say("Loading the options of group " + label + "\u2026");
    fetch(root.dataset.url + "?group=" + encodeURIComponent(key),
          {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (ticket !== latest) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("#primehub-options section.ph-group");
        if (!fresh || fresh.dataset.group !== key) throw new Error("no options for the group");
        fresh = document.importNode(fresh, true);
        section().replaceWith(fresh);
        // Notices and the autolaunch question were about the group shown before.
        root.querySelectorAll(".ph-notice, .ph-confirm").forEach(function (e) { e.remove(); });
        if (!picked[key]) remember(fresh);  // first visit: what the server chose
        restore(fresh);
        say("");
      })
      .catch(function (error) {
        if (ticket !== latest) return;
        var shown = section();
        if (shown) {
          shown.removeAttribute("aria-busy");
          shown.querySelector(".ph-group-fields").disabled = false;
          select.value = shown.dataset.group;
        }
        say("The options of group " + label + " could not be loaded (" + error.message +
            "); try again.", true);
      });
  }

  var first = section();
  if (select && first) {
    remember(first);  // before fitting: a kept image comes back with a GPU instance type
    fitImages(first);
    select.addEventListener("change", switchGroup);
    root.addEventListener("change", function (e) {
      var sec = e.target.closest("section.ph-group");
      if (!sec || e.target.type !== "radio") return;
      picked[sec.dataset.group][e.target.name] = e.target.value;
      if (e.target.name === "instance_type") fitImages(sec);
    });
  }

  var rows = document.getElementById("ph-env-rows");
  var add = document.getElementById("ph-env-add");
  function renumber() {
    rows.querySelectorAll(".ph-env-row").forEach(function (row, i) {
      var inputs = row.querySelectorAll("input");
      inputs[0].setAttribute("aria-label", "Variable name " + (i + 1));
      inputs[1].setAttribute("aria-label", "Variable value " + (i + 1));
      row.querySelector("button").setAttribute("aria-label", "Remove variable " + (i + 1));
    });
  }
  if (rows && add) {
    add.addEventListener("click", function () {
      var row = rows.querySelector(".ph-env-row").cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      rows.appendChild(row);
      renumber();
      row.querySelector("input").focus();
    });
    rows.addEventListener("click", function (e) {
      if (!e.target.classList.contains("ph-env-remove")) return;
      var row = e.target.closest(".ph-env-row");
      if (rows.querySelectorAll(".ph-env-row").length > 1) { row.remove(); }
      else { row.querySelectorAll("input").forEach(function (input) { input.value = ""; }); }
      renumber();
      add.focus();
    });
  }
})();
