// The pages mailed links open: read the link's token, take it out of the address bar,
// and post it to the API when the person submits the form.
"use strict";

const api = document.body.dataset.api;
const page = document.body.dataset.page;
const token = new URLSearchParams(window.location.search).get("token");
history.replaceState(null, "", window.location.pathname);

const form = document.getElementById("form");
const message = document.getElementById("message");

function say(text, kind) {
  message.textContent = text;
  message.className = kind;
}

async function post(path, body) {
  const response = await fetch(`${api}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
  if (response.ok) return null;
  const answer = await response.json().catch(() => ({}));
  if (Array.isArray(answer.detail)) return answer.detail.map((error) => error.msg).join("; ");
  return answer.detail || `The server answered ${response.status}.`;
}

const actions = {
  "reset-password": {
    validate() {
      const password = form.elements.password.value;
      if (password.length < 8) return "The password needs at least 8 characters.";
      if (password !== form.elements.again.value) return "The two passwords differ.";
      return null;
    },
    submit: () => post("/auth/password-reset/confirm", { token, newPassword: form.elements.password.value }),
    done: "Your password is changed. Sign in with it; every other session was signed out.",
  },
  "verify-email": {
    validate: () => null,
    submit: () => post("/auth/verify-email", { token }),
    done: "Your email address is confirmed. You can close this page.",
  },
};
const action = actions[page];

if (!token) {
  form.hidden = true;
  say("This link has no token: open the link from the mail again.", "error");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const invalid = action.validate();
  if (invalid) return say(invalid, "error");
  const button = form.querySelector("button");
  button.disabled = true;
  say("One moment…", "");
  try {
    const error = await action.submit();
    if (error) {
      say(error, "error");
    } else {
      form.hidden = true;
      say(action.done, "done");
    }
  } catch {
    say("The server could not be reached. Try again in a moment.", "error");
  } finally {
    button.disabled = false;
  }
});
