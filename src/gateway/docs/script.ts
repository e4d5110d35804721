/**
 * The docs page's script (plain ES2017, no dependencies): fetches the OpenAPI document, renders
 * the operations grouped by tag with their parameters, schemas and answers, and offers a
 * "try it" form per operation. Every string from the document is HTML-escaped before it is
 * shown. Kept as a string so the gateway serves it from memory, with no file to ship beside dist.
 */
export const DOCS_SCRIPT = String.raw`(function () {
  "use strict";
  var app = document.getElementById("app");
  var specUrl = document.body.getAttribute("data-openapi") || "/openapi.json";
  var spec = null;
  var credentials = {};

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function deref(schema, seen) {
    var guard = 0;
    while (schema && typeof schema.$ref === "string" && guard++ < 20) {
      var name = schema.$ref.replace("#/components/schemas/", "");
      if (seen && seen.indexOf(name) !== -1) return { $cycle: name };
      if (seen) seen = seen.concat([name]);
      schema = (spec.components && spec.components.schemas || {})[name] || {};
    }
    return schema || {};
  }

  function typeOf(schema) {
    schema = deref(schema);
    if (schema.$cycle) return schema.$cycle + " (recursive)";
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
    if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
    var type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
    if (type === "array") return typeOf(schema.items || {}) + "[]";
    return schema.format ? type + " (" + schema.format + ")" : type;
  }

  function constraints(schema) {
    var out = [];
    ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength",
      "pattern", "minItems", "maxItems", "default"].forEach(function (key) {
      if (schema[key] !== undefined && !(key === "maximum" && schema[key] === 9007199254740991)) {
        out.push(key + ": " + JSON.stringify(schema[key]));
      }
    });
    return out.length ? ' <span class="muted">' + esc(out.join(", ")) + "</span>" : "";
  }

  function renderSchema(schema, seen, depth) {
    schema = deref(schema, seen || []);
    if (depth > 6 || schema.$cycle) return "";
    var variants = schema.anyOf || schema.oneOf || schema.allOf;
    if (variants) {
      return '<ul class="schema">' + variants.map(function (v, i) {
        return "<li>variant " + (i + 1) + ': <span class="type">' + esc(typeOf(v)) + "</span>" +
          renderSchema(v, seen, depth + 1) + "</li>";
      }).join("") + "</ul>";
    }
    if (schema.type === "array" && schema.items) return renderSchema(schema.items, seen, depth + 1);
    var props = schema.properties || {};
    var names = Object.keys(props);
    if (!names.length) return "";
    var required = schema.required || [];
    return '<ul class="schema">' + names.map(function (name) {
      var prop = deref(props[name]);
      return "<li><code>" + esc(name) + '</code> <span class="type">' + esc(typeOf(props[name])) +
        "</span>" + (required.indexOf(name) !== -1 ? ' <span class="req">required</span>' : "") +
        constraints(prop) + (prop.description ? ' <span class="muted">— ' + esc(prop.description) + "</span>" : "") +
        renderSchema(props[name], seen, depth + 1) + "</li>";
    }).join("") + "</ul>";
  }

  function example(schema, depth) {
    schema = deref(schema);
    if (depth > 4 || schema.$cycle) return null;
    if (schema.default !== undefined) return schema.default;
    if (schema.const !== undefined) return schema.const;
    if (schema.enum) return schema.enum[0];
    if (schema.anyOf || schema.oneOf) return example((schema.anyOf || schema.oneOf)[0], depth + 1);
    var type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    if (type === "object" || schema.properties) {
      var out = {};
      Object.keys(schema.properties || {}).forEach(function (k) { out[k] = example(schema.properties[k], depth + 1); });
      return out;
    }
    if (type === "array") return [example(schema.items || {}, depth + 1)];
    if (type === "integer" || type === "number") return schema.minimum !== undefined ? schema.minimum : 1;
    if (type === "boolean") return true;
    if (type === "string") return schema.format === "email" ? "user@example.com" : "string";
    return null;
  }

  function renderParameters(op) {
    var params = op.parameters || [];
    if (!params.length) return "";
    return "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>" +
      params.map(function (p) {
        var schema = deref(p.schema || {});
        return "<tr><td><code>" + esc(p.name) + "</code>" + (p.required ? ' <span class="req">required</span>' : "") +
          "</td><td>" + esc(p.in) + '</td><td><span class="type">' + esc(typeOf(p.schema || {})) + "</span>" +
          constraints(schema) + "</td><td>" + esc(p.description || schema.description || "") + "</td></tr>";
      }).join("") + "</table>";
  }

  function bodySchema(op) {
    var content = op.requestBody && op.requestBody.content;
    return content && content["application/json"] ? content["application/json"].schema : null;
  }

  function renderResponses(op) {
    return "<h4>Responses</h4><table>" + Object.keys(op.responses || {}).map(function (status) {
      var response = op.responses[status];
      if (response.$ref) response = spec.components.responses[response.$ref.split("/").pop()] || {};
      var content = response.content || {};
      var type = Object.keys(content)[0];
      var schema = type ? content[type].schema : null;
      return "<tr><td><code>" + esc(status) + "</code></td><td>" + esc(response.description || "") +
        (type ? ' <span class="muted">(' + esc(type) + ")</span>" : "") +
        (schema && status.charAt(0) === "2" ? renderSchema(schema, [], 0) : "") + "</td></tr>";
    }).join("") + "</table>";
  }

  function renderTry(path, method, op, id) {
    var fields = (op.parameters || []).map(function (p) {
      return "<label>" + esc(p.name) + " (" + esc(p.in) + ')<input name="' + esc(p.in + ":" + p.name) +
        '" placeholder="' + esc(typeOf(p.schema || {})) + '"' + (p.in === "path" ? " required" : "") + "></label>";
    }).join("");
    var schema = bodySchema(op);
    if (schema) {
      fields += '<label>body (JSON)<textarea name="body">' + esc(JSON.stringify(example(schema, 0), null, 2)) + "</textarea></label>";
    }
    return "<h4>Try it</h4><form class=\"try\" data-path=\"" + esc(path) + '" data-method="' + esc(method) + '">' +
      fields + '<button type="submit">Send</button><div class="result" id="result-' + id + '"></div></form>';
  }

  function renderOperation(path, method, op, id) {
    var down = op["x-flotilla-available"] === false ? ' <span class="badge down">unavailable</span>' : "";
    var body = bodySchema(op);
    return '<details class="op" data-search="' + esc((method + " " + path + " " + (op.summary || "") + " " + (op.operationId || "")).toLowerCase()) + '">' +
      '<summary><span class="method ' + esc(method) + '">' + esc(method.toUpperCase()) + '</span><span class="path">' +
      esc(path) + '</span><span class="summary">' + esc(op.summary || "") + "</span>" + down +
      '<span class="badge">' + esc(op["x-flotilla-action"] || op.operationId || "") + "</span></summary>" +
      '<div class="body">' + (op.description ? "<p>" + esc(op.description) + "</p>" : "") +
      renderParameters(op) + (body ? "<h4>Request body</h4>" + '<span class="type">' + esc(typeOf(body)) + "</span>" + renderSchema(body, [], 0) : "") +
      renderResponses(op) + renderTry(path, method, op, id) + "</div></details>";
  }

  function renderCredentials() {
    var schemes = (spec.components && spec.components.securitySchemes) || {};
    return Object.keys(schemes).map(function (name) {
      var s = schemes[name];
      var label = s.type === "http" ? "Bearer token" : s.type === "apiKey" ? s.name : name;
      return '<label>' + esc(label) + ' <input data-credential="' + esc(name) + '" placeholder="' + esc(name) + '"></label>';
    }).join("");
  }

  function render() {
    var groups = {};
    var id = 0;
    Object.keys(spec.paths || {}).forEach(function (path) {
      ["get", "post", "put", "patch", "delete"].forEach(function (method) {
        var op = spec.paths[path][method];
        if (!op) return;
        var tag = (op.tags && op.tags[0]) || "default";
        (groups[tag] = groups[tag] || []).push(renderOperation(path, method, op, id++));
      });
    });
    var info = spec.info || {};
    app.innerHTML = "<h1>" + esc(info.title || "API") + ' <span class="badge">' + esc(info.version || "") + "</span></h1>" +
      (info.description ? '<p class="muted">' + esc(info.description) + "</p>" : "") +
      '<div class="toolbar"><input id="filter" type="search" placeholder="Filter operations">' + renderCredentials() +
      '<a href="' + esc(specUrl) + '">' + esc(specUrl) + "</a></div>" +
      (id === 0 ? '<p class="muted">No routes yet: no published action with a rest route is available.</p>' : "") +
      Object.keys(groups).sort().map(function (tag) { return "<h2>" + esc(tag) + "</h2>" + groups[tag].join(""); }).join("");
  }

  function send(form) {
    var path = form.getAttribute("data-path");
    var method = form.getAttribute("data-method").toUpperCase();
    var query = [];
    var headers = { accept: "application/json" };
    var body;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.value === "") return;
      if (el.name === "body") { body = el.value; headers["content-type"] = "application/json"; return; }
      var where = el.name.split(":")[0], name = el.name.slice(where.length + 1);
      if (where === "path") path = path.replace("{" + name + "}", encodeURIComponent(el.value));
      else if (where === "query") query.push(encodeURIComponent(name) + "=" + encodeURIComponent(el.value));
      else if (where === "header") headers[name] = el.value;
    });
    var schemes = (spec.components && spec.components.securitySchemes) || {};
    Object.keys(credentials).forEach(function (name) {
      var s = schemes[name] || {}, value = credentials[name];
      if (!value) return;
      if (s.type === "http") headers.authorization = "Bearer " + value;
      else if (s.type === "apiKey" && s.in === "header") headers[s.name.toLowerCase()] = value;
    });
    var out = form.querySelector(".result");
    out.innerHTML = '<p class="muted">Sending…</p>';
    fetch(path + (query.length ? "?" + query.join("&") : ""), { method: method, headers: headers, body: body })
      .then(function (res) {
        return res.text().then(function (text) {
          var shown = text;
          try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
          out.innerHTML = '<p class="status ' + (res.ok ? "ok" : "err") + '">' + res.status + " " + esc(res.statusText) +
            ' <span class="muted">x-request-id: ' + esc(res.headers.get("x-request-id") || "") + "</span></p><pre>" + esc(shown) + "</pre>";
        });
      })
      .catch(function (err) { out.innerHTML = '<p class="status err">' + esc(err.message) + "</p>"; });
  }

  app.addEventListener("submit", function (event) {
    event.preventDefault();
    send(event.target);
  });
  app.addEventListener("input", function (event) {
    var el = event.target;
    if (el.getAttribute("data-credential")) credentials[el.getAttribute("data-credential")] = el.value;
    if (el.id !== "filter") return;
    var term = el.value.toLowerCase();
    Array.prototype.forEach.call(app.querySelectorAll("details.op"), function (op) {
      op.hidden = term !== "" && op.getAttribute("data-search").indexOf(term) === -1;
    });
  });

  fetch(specUrl, { headers: { accept: "application/json" } })
    .then(function (res) { return res.json(); })
    .then(function (doc) { spec = doc; render(); })
    .catch(function (err) { app.innerHTML = '<p class="status err">Could not load ' + esc(specUrl) + ": " + esc(err.message) + "</p>"; });
})();
`;
