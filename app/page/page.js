// The page's fetch part: the same calls a front end makes, with JSON bodies, showing what
// the API answers. Everything shown is set with textContent, never parsed as HTML.
"use strict";

const form = document.getElementById("api-form");
const outcome = document.getElementById("api-outcome");
const message = document.getElementById("api-message");

function field(name) {
  return form.elements.namedItem(name).value;
}

// Only the fields filled in: an empty optional field means "not given".
function filled(names) {
  const body = {};
  for (const name of names) {
    if (field(name) !== "") body[name] = field(name);
  }
  return body;
}

// RFC 7617 with charset="UTF-8" (the API's challenge says so): btoa takes only Latin-1.
function basicAuthorization(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

function credentials() {
  const password = field("password");
  return password === "" ? {} : {Authorization: basicAuthorization(field("username"), password)};
}

function request(action) {
  const json = {"Content-Type": "application/json"};
  switch (action) {
    case "signup":
      return ["userSignUp", {method: "POST", headers: json,
        body: JSON.stringify(filled(["username", "firstname", "password"]))}];
    case "save":
      return ["userDetails", {method: "POST", headers: {...json, ...credentials()},
        body: JSON.stringify(filled(["username", "firstname", "lastname"]))}];
    case "read":
      return ["userDetails?" + new URLSearchParams({username: field("username")}),
        {headers: credentials()}];
  }
  throw new Error(`unknown action ${action}`);
}

function show(kind, heading, text) {
  document.getElementById("api-result").dataset.outcome = kind;
  outcome.textContent = heading;
  message.textContent = text;
}

async function describe(response) {
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  if (type.startsWith("application/problem+json")) {
    const problem = JSON.parse(text);
    return ["error", `Error ${problem.status} ${problem.title}`, problem.detail];
  }
  if (!response.ok) return ["error", `Error ${response.status}`, text];
  if (type.startsWith("application/json")) {
    const user = JSON.parse(text);
    return ["success", `Success (${response.status})`,
      `username: ${user.username}, first name: ${user.firstname ?? "(none)"},` +
      ` last name: ${user.lastname ?? "(none)"}`];
  }
  return ["success", `Success (${response.status})`, text];
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  show("pending", "Sending…", "");
  try {
    const [url, init] = request(event.submitter.value);
    // "omit": only the Authorization header set above. Otherwise a 401 for a protected
    // account pops up the browser's own login prompt instead of showing the problem, and
    // credentials the browser holds from that prompt would be sent unasked.
    show(...await describe(await fetch(url, {...init, credentials: "omit"})));
  } catch (error) {
    show("error", "The request failed", String(error));
  }
});

form.hidden = false;
document.getElementById("api-needs-script").hidden = true;
