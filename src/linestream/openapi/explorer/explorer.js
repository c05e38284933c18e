// The live stream explorer: lists the app's streaming routes from its OpenAPI document, and plays one of them
// into a live table. Plain JavaScript, no build step, no CDN.
"use strict";

(() => {
  const { DECODERS, Marked, TruncatedError } = globalThis.linestreamDecoders;
  const FORMAT_LABELS = {
    "application/jsonl": "JSON Lines",
    "application/x-ndjson": "NDJSON",
    "application/json-seq": "JSON text sequences",
    "text/event-stream": "Server-Sent Events",
    "application/json": "JSON array",
  };
  const STREAM_TYPES = ["application/jsonl", "application/x-ndjson", "application/json-seq", "text/event-stream"];
  const EVENT_SOURCE = "text/event-stream+eventsource"; // SSE read by the browser's EventSource
  const MAX_ROWS = 500; // rows kept in the DOM
  const FRAME_ROWS = 100; // rows built per animation frame: beyond, only the newest are shown
  const MAX_PAUSED = 100000; // items kept while an EventSource stream is paused
  const RATE_SAMPLES = 60; // the chart's width in samples (one per 500 ms)

  const root = document.getElementById("explorer");
  const $ = (id) => document.getElementById(id);
  const el = (tag, attributes = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  };

  let documentSpec = null;
  let chosen = null; // the chosen route
  let session = null; // the running stream
  let following = true; // the table keeps the newest row in view, unless the reader scrolled up

  // -- the OpenAPI document --------------------------------------------------------------------------------------
  function resolve(schema, seen = new Set()) {
    if (!schema || typeof schema !== "object" || !schema.$ref) return schema;
    if (seen.has(schema.$ref)) return {};
    seen.add(schema.$ref);
    const path = schema.$ref.replace(/^#\//, "").split("/");
    let target = documentSpec;
    for (const part of path) target = target ? target[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
    return resolve(target || {}, seen);
  }

  function nonNull(schema) {
    schema = resolve(schema) || {};
    const options = schema.anyOf || schema.oneOf;
    if (options) {
      const real = options.filter((option) => resolve(option).type !== "null");
      if (real.length === 1) return { ...resolve(real[0]), nullable: true, default: schema.default, title: schema.title };
    }
    return schema;
  }

  function itemSchema(content) {
    for (const type of ["application/jsonl", "application/x-ndjson", "application/json-seq"]) {
      const media = content[type];
      if (media) return media.itemSchema || media["x-oai-itemSchema"] || (media.schema && media.schema.items) || null;
    }
    const sse = content["text/event-stream"];
    const data = sse && (sse.itemSchema || sse["x-oai-itemSchema"]);
    if (data && data.properties && data.properties.data) return data.properties.data.contentSchema || null;
    return null;
  }

  const RESERVED_EVENTS = ["error", "end", "gap"];
  const JSON_TYPES = ["application/jsonl", "application/x-ndjson", "application/json-seq"];

  // A stream of several kinds of item: their names, and how the JSON formats tell them apart.
  function kindsOf(content) {
    const sse = content["text/event-stream"];
    const sseItem = sse && (sse.itemSchema || sse["x-oai-itemSchema"]);
    const consts = (options) => (options || []).map((o) => o && o.properties && o.properties.event && o.properties.event.const).filter((name) => name && !RESERVED_EVENTS.includes(name));
    let names = sseItem ? consts(sseItem.oneOf) : [];
    let tag = null;
    let envelope = false;
    for (const type of JSON_TYPES) {
      const media = content[type];
      let item = media && (media.itemSchema || media["x-oai-itemSchema"]);
      if (!item) continue;
      if (item.anyOf) item = item.anyOf[0]; // the item, before the records the server may add
      if (item.discriminator) tag = item.discriminator.propertyName;
      const enveloped = consts(item.oneOf);
      if (enveloped.length && enveloped.length === (item.oneOf || []).length) {
        envelope = true;
        if (!names.length) names = enveloped;
      }
      break;
    }
    return names.length ? { names, tag, envelope } : null;
  }

  function recordsOf(response) {
    const header = response && response.headers && response.headers["Stream-Records"];
    const text = header && header.schema && header.schema.example;
    return text ? text.split(",").map((part) => part.trim()) : [];
  }

  function streamingRoutes(spec) {
    const routes = [];
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of ["get", "post", "put", "patch", "delete"]) {
        const operation = item[method];
        if (!operation) continue;
        const ok = Object.entries(operation.responses || {}).find(([status]) => /^2/.test(status));
        const content = (ok && ok[1].content) || {};
        const formats = Object.keys(content).filter((type) => type in FORMAT_LABELS);
        if (!formats.some((type) => STREAM_TYPES.includes(type))) continue;
        routes.push({
          path,
          method: method.toUpperCase(),
          operation,
          formats,
          item: itemSchema(content),
          kinds: kindsOf(content),
          records: recordsOf(ok && ok[1]),
          parameters: [...(item.parameters || []), ...(operation.parameters || [])].map((p) => resolve(p)),
          security: operation.security || spec.security || [],
          tags: operation.tags && operation.tags.length ? operation.tags : ["default"],
          id: `${method}-${path}`.replace(/[^A-Za-z0-9_-]/g, "_"),
        });
      }
    }
    return routes;
  }

  // -- credentials (the Authorize panel): kept in this page's memory only --------------------------------------
  const credentials = {}; // scheme name -> {token} | {username, password} | {key}

  function schemeKind(scheme) {
    if (scheme.type === "http" && String(scheme.scheme).toLowerCase() === "basic") return "basic";
    if (scheme.type === "http" || scheme.type === "oauth2" || scheme.type === "openIdConnect") return "bearer";
    if (scheme.type === "apiKey" && scheme["x-linestream-ticket-url"]) return "ticket";
    if (scheme.type === "apiKey") return `key-${scheme.in}`;
    return "unknown";
  }

  function showAuthorize(spec) {
    const schemes = (spec.components && spec.components.securitySchemes) || {};
    const box = $("credentials");
    for (const [name, scheme] of Object.entries(schemes)) {
      const kind = schemeKind(scheme);
      const password = scheme.type === "oauth2" && scheme.flows && scheme.flows.password;
      const fields = el("fieldset", { class: "scheme" });
      const described = password ? "OAuth2 password flow, or a bearer token" : kind === "bearer" ? "bearer token" : kind.replace("key-", "API key in ");
      fields.append(el("legend", { text: `${name} (${described})` }));
      const input = (key, label, type) => {
        const id = `credential-${name}-${key}`.replace(/[^A-Za-z0-9_-]/g, "_");
        const field = el("input", { id, type, autocomplete: "off" });
        field.addEventListener("input", () => {
          credentials[name] = { ...(credentials[name] || {}), [key]: field.value };
        });
        fields.append(el("div", { class: "field" }, el("label", { for: id, text: label }), field));
        return field;
      };
      if (kind === "basic") {
        input("username", "User name", "text");
        input("password", "Password", "password");
      } else if (password) {
        const login = { username: input("username", "User name", "text"), password: input("password", "Password", "password") };
        const scopes = Object.keys(password.scopes || {});
        if (scopes.length) login.scope = input("scope", `Scopes (space-separated: ${scopes.join(" ")})`, "text");
        const token = input("token", "Token", "password");
        const status = el("p", { class: "hint", role: "status", id: `credential-${name}-status`.replace(/[^A-Za-z0-9_-]/g, "_") });
        const button = el("button", { type: "button", text: "Log in" });
        button.addEventListener("click", () => logIn(name, password.tokenUrl, login, token, status));
        fields.append(el("div", { class: "buttons" }, button), status);
      } else if (kind === "bearer") input("token", "Token", "password");
      else if (kind.startsWith("key-") && kind !== "key-cookie") input("key", scheme.name, "password");
      else if (kind === "ticket") fields.append(el("p", { class: "hint", text: "Asked for by the explorer for EventSource streams, with the credentials above." }));
      else fields.append(el("p", { class: "hint", text: "Sent by the browser itself (a cookie), or not supported here." }));
      box.append(fields);
    }
    $("authorize").hidden = !Object.keys(schemes).length;
  }

  // OAuth2's password flow (RFC 6749 section 4.3), as /docs does it: the form to the scheme's tokenUrl (relative
  // to the OpenAPI document's URL), and the access token it answers becomes the scheme's bearer token.
  async function logIn(name, tokenUrl, login, token, status) {
    const form = new URLSearchParams({ grant_type: "password", username: login.username.value, password: login.password.value });
    if (login.scope && login.scope.value.trim()) form.set("scope", login.scope.value.trim());
    status.textContent = "Logging in…";
    try {
      const url = new URL(tokenUrl, new URL(root.dataset.openapi, location.href));
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form });
      const answer = await response.json().catch(() => null);
      if (!response.ok || !answer || typeof answer.access_token !== "string") {
        const reason = answer && (answer.error_description || answer.detail || answer.title || answer.error);
        throw new Error(`HTTP ${response.status}${reason ? `: ${typeof reason === "string" ? reason : JSON.stringify(reason)}` : ""}`);
      }
      token.value = answer.access_token;
      credentials[name] = { ...(credentials[name] || {}), token: answer.access_token };
      status.textContent = `Logged in as ${login.username.value}: the token is sent with each stream's request.`;
    } catch (error) {
      status.textContent = `Log in failed: ${error.message}`;
    }
  }

  // The credentials a route's request carries: headers and query parameters (never a ticket: see withTicket).
  function authorization(route) {
    const schemes = (documentSpec.components && documentSpec.components.securitySchemes) || {};
    const headers = {};
    const query = {};
    for (const requirement of route.security) {
      for (const name of Object.keys(requirement)) {
        const scheme = schemes[name];
        const given = credentials[name];
        if (!scheme || !given) continue;
        const kind = schemeKind(scheme);
        if (kind === "bearer" && given.token) headers.Authorization = `Bearer ${given.token}`;
        else if (kind === "basic" && given.username !== undefined) headers.Authorization = `Basic ${btoa(`${given.username}:${given.password || ""}`)}`;
        else if (kind === "key-header" && given.key) headers[scheme.name] = given.key;
        else if (kind === "key-query" && given.key) query[scheme.name] = given.key;
      }
    }
    return { headers, query };
  }

  function ticketScheme(route) {
    const schemes = (documentSpec.components && documentSpec.components.securitySchemes) || {};
    for (const requirement of route.security) {
      for (const name of Object.keys(requirement)) if (schemes[name] && schemeKind(schemes[name]) === "ticket") return schemes[name];
    }
    return null;
  }

  // An EventSource cannot send headers: for a route that takes stream tickets, ask the app for one (with the
  // page's credentials, as headers of that request) and put it in the stream's URL.
  async function withTicket(route, spec) {
    const scheme = ticketScheme(route);
    const url = new URL(spec.url, location.href);
    const issuer = documentSpec.paths[scheme["x-linestream-ticket-url"]];
    const { headers } = authorization({ security: (issuer && issuer.post && issuer.post.security) || allSecurity() });
    const response = await fetch(`${root.dataset.root}${scheme["x-linestream-ticket-url"]}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ path: url.pathname, method: route.method }),
    });
    if (!response.ok) throw new Error(`the ticket was refused: HTTP ${response.status}`);
    const { ticket } = await response.json();
    url.searchParams.set(scheme.name, ticket);
    return { ...spec, url: `${url.pathname}${url.search}` };
  }

  function allSecurity() {
    const schemes = (documentSpec.components && documentSpec.components.securitySchemes) || {};
    return [Object.fromEntries(Object.keys(schemes).map((name) => [name, []]))];
  }

  // -- the route list --------------------------------------------------------------------------------------------
  function showRoutes(routes) {
    const nav = $("routes");
    nav.replaceChildren();
    if (!routes.length) {
      nav.append(el("p", { text: "This app has no streaming routes." }));
      return;
    }
    const groups = new Map();
    for (const route of routes) {
      for (const tag of route.tags) {
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(route);
      }
    }
    for (const [tag, members] of groups) {
      const list = el("ul");
      for (const route of members) {
        const button = el(
          "button",
          { type: "button", class: "route", "data-route": route.id, onclick: () => choose(route) },
          el("span", { class: `method ${route.method.toLowerCase()}`, text: route.method }),
          el("span", { class: "path", text: route.path }),
        );
        if (route.operation.summary) button.append(el("span", { class: "summary", text: route.operation.summary }));
        list.append(el("li", {}, button));
      }
      nav.append(el("section", { class: "tag" }, el("h2", { text: tag }), list));
    }
  }

  // -- one route: its form -------------------------------------------------------------------------------------
  function inputFor(parameter) {
    const schema = nonNull(parameter.schema || {});
    const id = `param-${parameter.in}-${parameter.name}`;
    const attributes = { id, name: parameter.name, "aria-describedby": `${id}-error`, required: !!parameter.required };
    let input;
    if (schema.enum) {
      input = el("select", attributes, parameter.required ? null : el("option", { value: "", text: "(none)" }));
      for (const value of schema.enum) input.append(el("option", { value: String(value), text: String(value) }));
    } else if (schema.type === "boolean") {
      input = el(
        "select",
        attributes,
        el("option", { value: "", text: "(none)" }),
        el("option", { value: "true", text: "true" }),
        el("option", { value: "false", text: "false" }),
      );
    } else if (schema.type === "integer" || schema.type === "number") {
      input = el("input", {
        ...attributes,
        type: "number",
        step: schema.type === "integer" ? "1" : "any",
        min: schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + (schema.type === "integer" ? 1 : 0) : undefined),
        max: schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - (schema.type === "integer" ? 1 : 0) : undefined),
      });
    } else {
      input = el("input", {
        ...attributes,
        type: "text",
        minlength: schema.minLength,
        maxlength: schema.maxLength,
        pattern: schema.pattern,
      });
    }
    const fallback = parameter.schema && parameter.schema.default !== undefined ? parameter.schema.default : schema.default;
    if (fallback !== undefined && fallback !== null) {
      if (input.tagName === "SELECT") input.value = String(fallback);
      else input.placeholder = String(fallback);
    }
    return input;
  }

  function choose(route) {
    stop("switched route");
    chosen = route;
    for (const button of document.querySelectorAll("button.route")) {
      button.setAttribute("aria-current", button.dataset.route === route.id ? "true" : "false");
    }
    $("route-title").textContent = `${route.method} ${route.path}`;
    $("route-description").textContent = route.operation.description || route.operation.summary || "";
    $("item-schema").textContent = route.item ? JSON.stringify(expand(route.item), null, 2) : "untyped items (any JSON)";
    const fields = $("parameters");
    fields.replaceChildren();
    for (const parameter of route.parameters) {
      if (parameter.in === "cookie") continue;
      const input = inputFor(parameter);
      const label = `${parameter.name}${parameter.required ? " *" : ""} (${parameter.in})`;
      fields.append(
        el(
          "div",
          { class: "field" },
          el("label", { for: input.id, text: label }),
          input,
          el("span", { id: `${input.id}-error`, class: "field-error", role: "alert" }),
        ),
      );
    }
    const body = route.operation.requestBody;
    if (body) {
      const types = Object.keys(body.content || {});
      fields.append(
        el(
          "div",
          { class: "field wide" },
          el("label", { for: "request-body", text: `request body (${types[0] || "application/json"})` }),
          el("textarea", { id: "request-body", rows: "4", "data-type": types[0] || "application/json", "aria-describedby": "request-body-error", required: !!body.required }),
          el("span", { id: "request-body-error", class: "field-error", role: "alert" }),
        ),
      );
    }
    if (!fields.children.length) fields.append(el("p", { class: "hint", text: "No parameters." }));
    const picker = $("format");
    picker.replaceChildren();
    for (const type of route.formats) {
      if (type === "text/event-stream" && route.method === "GET") {
        picker.append(el("option", { value: EVENT_SOURCE, text: `${FORMAT_LABELS[type]}, EventSource: reconnects (${type})` }));
      }
      picker.append(el("option", { value: type, text: `${FORMAT_LABELS[type]}${type === "text/event-stream" ? ", fetch" : ""} (${type})` }));
    }
    $("route").hidden = false;
    $("pick").hidden = true;
    resetView(route);
    $("start").focus();
  }

  function expand(schema, depth = 0) {
    schema = resolve(schema);
    if (depth > 4 || !schema || typeof schema !== "object") return schema;
    const copy = Array.isArray(schema) ? [] : {};
    for (const [key, value] of Object.entries(schema)) copy[key] = typeof value === "object" ? expand(value, depth + 1) : value;
    return copy;
  }

  function validate() {
    let valid = true;
    for (const input of $("parameters").querySelectorAll("input, select, textarea")) {
      const error = $(`${input.id}-error`);
      let message = input.checkValidity() ? "" : input.validationMessage;
      if (!message && input.id === "request-body" && input.value.trim() && input.dataset.type === "application/json") {
        try {
          JSON.parse(input.value);
        } catch (problem) {
          message = `Not valid JSON: ${problem.message}`;
        }
      }
      error.textContent = message;
      input.setAttribute("aria-invalid", message ? "true" : "false");
      if (message && valid) {
        input.focus();
        valid = false;
      }
    }
    return valid;
  }

  function request(route) {
    let path = route.path;
    const query = new URLSearchParams();
    const headers = {};
    for (const parameter of route.parameters) {
      const input = $(`param-${parameter.in}-${parameter.name}`);
      if (!input || input.value === "") continue;
      if (parameter.in === "path") path = path.replace(`{${parameter.name}}`, encodeURIComponent(input.value));
      else if (parameter.in === "query") query.append(parameter.name, input.value);
      else if (parameter.in === "header") headers[parameter.name] = input.value;
    }
    const credentialed = authorization(route);
    for (const [name, value] of Object.entries(credentialed.query)) query.append(name, value);
    const search = query.toString();
    const body = $("request-body");
    return {
      url: `${root.dataset.root}${path}${search ? `?${search}` : ""}`,
      headers: { ...headers, ...credentialed.headers },
      ticket: ticketScheme(route) !== null,
      body: body && body.value.trim() ? body.value : null,
      bodyType: body ? body.dataset.type : null,
    };
  }

  // -- the live view ---------------------------------------------------------------------------------------------
  function columnsFor(route) {
    let schema = route && route.item ? nonNull(route.item) : null;
    if (schema && schema.anyOf && !schema.anyOf.some((option) => resolve(option).type === "null")) schema = resolve(schema.anyOf[0]);
    if (schema && schema.oneOf) {
      // Several kinds: the columns of them all (an envelope's are those of its data).
      const columns = [];
      for (const option of schema.oneOf) {
        let member = resolve(option);
        if (route.kinds && route.kinds.envelope && member.properties && member.properties.data) member = resolve(member.properties.data);
        for (const name of Object.keys(member.properties || {})) if (!columns.includes(name)) columns.push(name);
      }
      if (columns.length) return columns;
    }
    if (schema && schema.type === "object" && schema.properties) return Object.keys(schema.properties);
    if (schema && schema.type && schema.type !== "object") return ["value"];
    return null; // learnt from the first item
  }

  function resetView(route) {
    const kinds = route && route.kinds;
    const eventFilter = $("event-filter");
    eventFilter.replaceChildren(el("option", { value: "", text: "all kinds" }), ...(kinds ? kinds.names : []).map((name) => el("option", { value: name, text: name })));
    $("event-filter-field").hidden = !kinds;
    const view = {
      columns: columnsFor(route),
      showEvents: !!kinds,
      eventFilter: "",
      count: 0,
      bytes: 0,
      approximate: false,
      started: performance.now(),
      ended: null,
      queue: [],
      dropped: 0,
      samples: [],
      lastCount: 0,
      scheduled: false,
      filter: $("filter").value.trim().toLowerCase(),
    };
    delete root.dataset.complete;
    $("rows").replaceChildren();
    $("banner").replaceChildren();
    $("log").replaceChildren();
    renderHead(view);
    window.explorerView = view;
    updateStats(view);
    drawChart(view);
    return view;
  }

  function renderHead(view) {
    const row = el("tr", {}, el("th", { scope: "col", text: "#" }));
    if (view.showEvents) row.append(el("th", { scope: "col", class: "event", text: "kind" }));
    if (view.columns) for (const column of view.columns) row.append(el("th", { scope: "col", class: "cell", text: column }));
    row.append(el("th", { scope: "col", class: "raw-cell", text: "JSON" }));
    $("head").replaceChildren(row);
  }

  function cell(value) {
    if (value !== null && typeof value === "object") {
      const size = Array.isArray(value) ? `[${value.length}]` : `{${Object.keys(value).length}}`;
      return el("details", {}, el("summary", { text: size }), el("pre", { text: JSON.stringify(value, null, 2) }));
    }
    return value === undefined ? "" : value === null ? "null" : String(value);
  }

  function addItems(view, items) {
    for (const item of items) view.queue.push(item);
    if (view.queue.length > MAX_ROWS) {
      // Rows that would scroll out of the DOM before anyone could read them are never built.
      view.dropped += view.queue.length - MAX_ROWS;
      view.queue.splice(0, view.queue.length - MAX_ROWS);
    }
    if (!view.scheduled) {
      view.scheduled = true;
      requestAnimationFrame(() => render(view));
    }
  }

  function render(view) {
    view.scheduled = false;
    if (window.explorerView !== view || !view.queue.length) return;
    let items = view.queue;
    view.queue = [];
    if (items.length > FRAME_ROWS) {
      // Faster than anyone can read: build the newest rows only, so that a frame stays short.
      view.dropped += items.length - FRAME_ROWS;
      items = items.slice(items.length - FRAME_ROWS);
    }
    if (!view.columns) {
      const first = items[0].value;
      view.columns = first && typeof first === "object" && !Array.isArray(first) ? Object.keys(first) : ["value"];
      renderHead(view);
    }
    const fragment = document.createDocumentFragment();
    for (const { index, value, id, event } of items) {
      const json = JSON.stringify(value);
      const row = el("tr", { "data-index": index, "data-event": event || "" }, el("td", { class: "index", text: String(index), title: id ? `id ${id}` : null }));
      if (view.showEvents) row.append(el("td", { class: "event", text: event || "" }));
      const object = value !== null && typeof value === "object" && !Array.isArray(value);
      for (const column of view.columns) {
        row.append(el("td", { class: "cell" }, cell(object ? value[column] : column === "value" ? value : undefined)));
      }
      row.append(el("td", { class: "raw-cell" }, el("code", { text: json })));
      row.hidden = !rowVisible(view, row);
      fragment.append(row);
    }
    const body = $("rows");
    body.append(fragment);
    while (body.childElementCount > MAX_ROWS) {
      body.firstElementChild.remove();
      view.dropped += 1;
    }
    if (following) $("table-wrap").scrollTop = $("table-wrap").scrollHeight;
    $("dropped").textContent = view.dropped
      ? `${view.dropped.toLocaleString()} older row(s) removed from view (the newest ${MAX_ROWS} are kept).`
      : "";
    updateStats(view);
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  }

  function updateStats(view) {
    const now = view.ended ?? performance.now();
    const elapsed = (now - view.started) / 1000;
    // While streaming: the last half second's rate; once ended: the average.
    const recent = view.ended !== null ? (elapsed > 0 ? view.count / elapsed : 0) : view.samples.at(-1) || 0;
    $("stat-count").textContent = view.count.toLocaleString();
    $("stat-rate").textContent = Math.round(recent).toLocaleString();
    $("stat-bytes").textContent = `${view.approximate ? "≈ " : ""}${formatBytes(view.bytes)}`;
    $("stat-elapsed").textContent = `${elapsed.toFixed(1)} s`;
  }

  function sample(view) {
    const rate = (view.count - view.lastCount) * 2; // per 500 ms
    view.lastCount = view.count;
    view.samples.push(rate);
    if (view.samples.length > RATE_SAMPLES) view.samples.shift();
    drawChart(view);
  }

  function drawChart(view) {
    const canvas = $("chart");
    const context = canvas.getContext("2d");
    const { width, height } = canvas;
    context.clearRect(0, 0, width, height);
    const peak = Math.max(1, ...view.samples);
    context.strokeStyle = getComputedStyle(canvas).color;
    context.lineWidth = 2;
    context.beginPath();
    view.samples.forEach((value, index) => {
      const x = (index / (RATE_SAMPLES - 1)) * width;
      const y = height - 2 - (value / peak) * (height - 4);
      if (index === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.stroke();
    canvas.setAttribute("aria-label", `items per second over the last 30 s; now ${Math.round(view.samples.at(-1) || 0)}, peak ${Math.round(peak)}`);
  }

  function banner(kind, title, detail) {
    const box = el("div", { class: `banner ${kind}`, role: kind === "error" ? "alert" : "status" }, el("strong", { text: title }));
    if (detail) box.append(el("div", { class: "detail", text: detail }));
    $("banner").replaceChildren(box);
  }

  function log(message) {
    const time = new Date().toLocaleTimeString();
    $("log").append(el("li", { text: `${time} ${message}` }));
  }

  function problemText(problem) {
    if (!problem || typeof problem !== "object") return String(problem ?? "");
    const parts = [problem.detail ? String(problem.detail) : ""];
    for (const error of problem.errors || []) parts.push(`${(error.loc || []).join(".")}: ${error.msg}`);
    return parts.filter(Boolean).join("\n");
  }

  function isRecord(value, name) {
    return value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && value[name] && typeof value[name] === "object";
  }

  function rowVisible(view, row) {
    if (view.filter && !row.lastElementChild.textContent.toLowerCase().includes(view.filter)) return false;
    return !view.eventFilter || row.dataset.event === view.eventFilter;
  }

  function complete(current, how) {
    current.complete = true;
    root.dataset.complete = "true";
    finish(current, "ended");
    banner("ok", `Stream complete${how}: ${current.view.count.toLocaleString()} item(s).`);
    log(how ? `stream complete${how}` : "stream ended");
  }

  // -- playing a stream ------------------------------------------------------------------------------------------
  function setState(state) {
    root.dataset.state = state;
    $("start").disabled = state === "streaming" || state === "paused";
    $("pause").disabled = state !== "streaming" && state !== "paused";
    $("pause").textContent = state === "paused" ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", state === "paused" ? "true" : "false");
    $("stop").disabled = state !== "streaming" && state !== "paused";
    $("state").textContent = { idle: "Idle", streaming: "Streaming", paused: "Paused", ended: "Ended", failed: "Failed" }[state];
  }

  function start(event) {
    if (event) event.preventDefault();
    if (!chosen || !validate()) return;
    stop("restarted");
    const route = chosen;
    const choice = $("format").value;
    const type = choice === EVENT_SOURCE ? "text/event-stream" : choice;
    const spec = request(route);
    const view = resetView(route);
    let useEventSource = choice === EVENT_SOURCE;
    const credentialHeaders = Object.keys(authorization(route).headers);
    const otherHeaders = Object.keys(spec.headers).filter((name) => !credentialHeaders.includes(name));
    if (useEventSource && (otherHeaders.length || spec.body || (credentialHeaders.length && !spec.ticket))) {
      useEventSource = false;
      log("EventSource cannot send headers or a body: reading the event stream with fetch instead");
    }
    session = { view, route, type, paused: false, stopped: false, resume: null, held: [], timer: null };
    session.timer = setInterval(() => {
      sample(view);
      updateStats(view);
    }, 500);
    setState("streaming");
    log(`${route.method} ${spec.url} (${FORMAT_LABELS[type]}${useEventSource ? ", EventSource" : ", fetch"})`);
    if (useEventSource && spec.ticket) {
      const current = session;
      withTicket(route, spec).then(
        (ticketed) => {
          if (!current.stopped) playEventSource(current, ticketed);
        },
        (error) => {
          finish(current, "failed");
          banner("error", "No stream ticket", String(error.message || error));
        },
      );
    } else if (useEventSource) playEventSource(session, spec);
    else playFetch(session, spec);
  }

  function deliver(current, values) {
    const view = current.view;
    const kinds = current.route.kinds;
    const records = current.records || [];
    const items = [];
    for (const entry of values) {
      let { value, event } = entry;
      // A record is told apart by its framing (its JSON text begins with a space), never by what it holds.
      const marked = value instanceof Marked;
      if (marked) value = value.value;
      if (marked && records.includes("error") && isRecord(value, "error")) {
        addItems(view, items);
        finish(current, "failed");
        banner("error", `The server ended the stream with an error after ${view.count} item(s) (${value.error.status} ${value.error.title || ""})`, problemText(value.error));
        log("in-band error record");
        return;
      }
      if (marked && records.includes("end") && isRecord(value, "end")) {
        addItems(view, items);
        complete(current, " (end record)");
        return;
      }
      if (!event && kinds && value && typeof value === "object") {
        if (kinds.envelope) ({ event, data: value } = value);
        else if (kinds.tag) event = value[kinds.tag];
      }
      if (event && !view.showEvents) {
        view.showEvents = true;
        renderHead(view);
      }
      view.count += 1;
      items.push({ index: view.count, value, id: entry.id, event });
    }
    addItems(view, items);
  }

  async function playFetch(current, spec) {
    const controller = new AbortController();
    current.abort = () => controller.abort();
    const view = current.view;
    const headers = { accept: current.type, ...spec.headers };
    if (spec.body !== null) headers["content-type"] = spec.bodyType;
    let response;
    try {
      response = await fetch(spec.url, { method: current.route.method, headers, body: spec.body, signal: controller.signal });
    } catch (error) {
      if (current.stopped) return;
      finish(current, "failed");
      banner("error", "The request failed", String(error.message || error));
      return;
    }
    if (!response.ok) {
      const text = await response.text();
      let problem = text;
      try {
        problem = JSON.parse(text);
      } catch (error) {
        // Not JSON: shown as text.
      }
      finish(current, "failed");
      banner("error", `HTTP ${response.status} ${problem.title || response.statusText}`, problemText(problem));
      log(`HTTP ${response.status}`);
      return;
    }
    current.records = (response.headers.get("stream-records") || "").split(",").map((part) => part.trim()).filter(Boolean);
    const decoder = new DECODERS[current.type]({ marks: current.records.length > 0 });
    const sse = current.type === "text/event-stream";
    const reader = response.body.getReader();
    try {
      for (;;) {
        if (current.paused) await new Promise((resolve) => (current.resume = resolve));
        if (current.stopped) return;
        const { value, done } = await reader.read();
        if (done) break;
        view.bytes += value.length;
        const decoded = decoder.feed(value);
        if (sse) deliverEvents(current, decoded);
        else deliver(current, decoded.map((item) => ({ value: item })));
        if (current.stopped) return;
      }
      const rest = decoder.end();
      if (!sse) deliver(current, rest.map((item) => ({ value: item })));
      if (current.stopped) return;
      if (current.records.includes("end") && current.type !== "application/json") {
        throw new TruncatedError("the stream ended without its end record");
      }
      complete(current, "");
    } catch (error) {
      if (current.stopped) return;
      finish(current, "failed");
      const truncated = error instanceof TruncatedError || error instanceof TypeError;
      banner(
        "error",
        truncated ? `Stream truncated after ${view.count.toLocaleString()} item(s)` : "The stream could not be decoded",
        truncated ? "The connection ended before the stream was complete: the server aborted it or the network failed." : String(error.message || error),
      );
      log(truncated ? "stream truncated" : `decode error: ${error.message}`);
    }
  }

  function deliverEvents(current, events) {
    const values = [];
    for (const event of events) {
      current.lastEventId = event.id;
      let value;
      try {
        value = JSON.parse(event.data);
      } catch (error) {
        value = event.data;
      }
      if (event.event === "error") {
        deliver(current, values);
        values.length = 0;
        finish(current, "failed");
        banner("error", `The server ended the stream with an error after ${current.view.count} item(s)`, problemText(value));
        log("in-band error event");
        return;
      }
      if (event.event === "end" && (current.records || []).includes("end")) {
        deliver(current, values);
        complete(current, " (end record)");
        return;
      }
      if (event.event === "gap") {
        log(`the server lost messages after ${value.after}, before ${value.next}`);
        banner("warning", "Messages were lost", `The server dropped the messages after ${value.after}, before ${value.next}.`);
        continue;
      }
      values.push({ value, id: event.id, event: event.event });
    }
    deliver(current, values);
  }

  function playEventSource(current, spec) {
    const source = new EventSource(spec.url);
    const view = current.view;
    view.approximate = true;
    current.abort = () => source.close();
    let opened = false;
    source.addEventListener("open", () => {
      if (opened) log(`reconnected (sent Last-Event-ID: ${current.lastEventId || "none"})`);
      opened = true;
    });
    current.records = current.route.records;
    const onEvent = (event) => {
      view.bytes += event.data.length + (event.lastEventId ? event.lastEventId.length + 5 : 0) + 8;
      current.lastEventId = event.lastEventId;
      let value;
      try {
        value = JSON.parse(event.data);
      } catch (error) {
        value = event.data;
      }
      const entry = { value, id: event.lastEventId, event: event.type === "message" ? null : event.type };
      if (current.paused) {
        if (current.held.length < MAX_PAUSED) current.held.push(entry);
        else view.dropped += 1;
        return;
      }
      deliver(current, [entry]);
    };
    source.addEventListener("message", onEvent);
    for (const name of current.route.kinds ? current.route.kinds.names : []) source.addEventListener(name, onEvent);
    source.addEventListener("end", () => {
      // The end record: this EventSource would reconnect (and be answered 204); the stream is complete.
      deliver(current, current.held.splice(0));
      complete(current, " (end record)");
    });
    source.addEventListener("gap", (event) => {
      const gap = JSON.parse(event.data);
      log(`the server lost messages after ${gap.after}, before ${gap.next}`);
    });
    source.addEventListener("error", async (event) => {
      if (current.stopped) return;
      if (event.data !== undefined) {
        // An in-band `event: error` record from the server.
        let problem = event.data;
        try {
          problem = JSON.parse(event.data);
        } catch (error) {
          // Shown as text.
        }
        source.close();
        finish(current, "failed");
        banner("error", `The server ended the stream with an error after ${view.count} item(s)`, problemText(problem));
        log("in-band error event");
        return;
      }
      if (source.readyState === EventSource.CONNECTING) {
        const id = current.lastEventId || "none";
        banner("warning", `Connection lost after ${view.count.toLocaleString()} item(s): reconnecting`, `EventSource resumes with Last-Event-ID: ${id}`);
        log(`connection lost; reconnecting with Last-Event-ID: ${id}`);
        return;
      }
      // Closed for good: EventSource hides why, so ask the server again to show its answer.
      source.close();
      finish(current, "failed");
      try {
        const response = await fetch(spec.url, { headers: { accept: "text/event-stream" } });
        const text = response.ok ? "" : await response.text();
        let problem = text;
        try {
          problem = JSON.parse(text);
        } catch (error) {
          // Not JSON.
        }
        banner("error", response.ok ? "The event stream failed" : `HTTP ${response.status} ${problem.title || response.statusText}`, problemText(problem));
      } catch (error) {
        banner("error", "The event stream failed", String(error.message || error));
      }
      log("event stream closed");
    });
  }

  function finish(current, state) {
    if (current.finished) return;
    current.finished = true;
    current.stopped = true;
    current.view.ended = performance.now();
    clearInterval(current.timer);
    if (current.abort) current.abort();
    if (current.resume) current.resume();
    updateStats(current.view);
    if (session === current) setState(state);
  }

  function stop(reason) {
    if (!session || session.finished) return;
    const current = session;
    finish(current, "ended");
    if (reason === "user") {
      banner("ok", `Stopped after ${current.view.count.toLocaleString()} item(s).`);
      log("stopped");
    }
  }

  function togglePause() {
    if (!session || session.finished) return;
    session.paused = !session.paused;
    setState(session.paused ? "paused" : "streaming");
    updateStats(session.view);
    log(session.paused ? "paused" : "resumed");
    if (!session.paused) {
      const held = session.held;
      session.held = [];
      if (held.length) deliver(session, held);
      if (session.resume) {
        const resume = session.resume;
        session.resume = null;
        resume();
      }
    }
  }

  function applyFilter() {
    const view = window.explorerView || {};
    view.filter = $("filter").value.trim().toLowerCase();
    view.eventFilter = $("event-filter").value;
    let shown = 0;
    for (const row of $("rows").children) {
      row.hidden = !rowVisible(view, row);
      if (!row.hidden) shown += 1;
    }
    $("filter-count").textContent = view.filter || view.eventFilter ? `${shown} of ${$("rows").childElementCount} rows shown` : "";
  }

  // -- start-up --------------------------------------------------------------------------------------------------
  async function main() {
    $("controls").addEventListener("submit", start);
    $("pause").addEventListener("click", togglePause);
    $("stop").addEventListener("click", () => stop("user"));
    $("filter").addEventListener("input", applyFilter);
    $("event-filter").addEventListener("change", applyFilter);
    $("raw").addEventListener("change", (event) => {
      $("table").classList.toggle("raw", event.target.checked);
      if (following) $("table-wrap").scrollTop = $("table-wrap").scrollHeight;
    });
    $("table-wrap").addEventListener("scroll", () => {
      const wrap = $("table-wrap");
      following = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 8;
    });
    setState("idle");
    try {
      const response = await fetch(root.dataset.openapi);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      documentSpec = await response.json();
    } catch (error) {
      $("routes").replaceChildren(el("p", { role: "alert", text: `Cannot load the OpenAPI document: ${error.message}` }));
      return;
    }
    const routes = streamingRoutes(documentSpec);
    showRoutes(routes);
    showAuthorize(documentSpec);
    $("api-title").textContent = `${documentSpec.info.title} ${documentSpec.info.version}`;
    const wanted = new URLSearchParams(location.search).get("route");
    const chosen = routes.find((route) => `${route.method} ${route.path}` === wanted);
    if (chosen) choose(chosen);
    root.dataset.ready = "true";
  }

  main();
})();
