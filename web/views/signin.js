// Sign-in: through the identity provider (OAuth 2.0 code flow with PKCE, in
// auth.js), or, for developers, by pasting a token (`make token`) and optionally
// the API's address.

import { ApiError, errorText, isValidBaseUrl, normaliseBaseUrl } from "../api.js";
import { formatDateTime, h, jwtClaims } from "../dom.js";
import { field, setBusy, setFieldError } from "../forms.js";

/**
 * @param {HTMLElement} container
 * @param {{ account: object, onSignedIn: () => void, notify: Function, showError: Function, clearError: Function }} ctx
 */
export function mount(container, ctx) {
  const { account } = ctx;
  const provider = account.provider();
  const tokenPaste = account.tokenPaste();

  const oauthButton = h(
    "button",
    { type: "button", class: "button button-primary", id: "oauth-signin-button", "data-testid": "oauth-signin-button" },
    "Sign in",
  );
  const tokenInput = h("input", {
    name: "token",
    type: "password",
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    required: true,
  });
  const show = h("input", { type: "checkbox", id: "token-show", "data-testid": "token-show" });
  const baseInput = h("input", {
    name: "apiBaseUrl",
    type: "text",
    inputmode: "url",
    autocomplete: "url",
    autocapitalize: "off",
    spellcheck: "false",
  });
  baseInput.value = account.typedBaseUrl();
  const submit = h(
    "button",
    { type: "submit", class: "button button-primary", id: "signin-button", "data-testid": "signin-button" },
    "Sign in with this token",
  );
  const tokenField = field({
    id: "token-input",
    label: "Access token",
    control: tokenInput,
    hint: [
      "On the local stack, run ",
      h("code", {}, "make token USER=alice"),
      " and paste what it prints. Against the deployed API, paste the JWT your identity provider issued.",
    ],
  });
  tokenField.append(h("label", { class: "check", for: "token-show" }, show, " Show token"));
  const form = h(
    "form",
    { id: "signin-form", "data-testid": "signin-form", novalidate: true, hidden: !tokenPaste },
    tokenField,
    field({
      id: "api-base-input",
      label: "API base URL",
      optional: true,
      control: baseInput,
      hint: `Leave empty to use this page's own address (${window.location.origin}).`,
    }),
    submit,
  );

  const section = h(
    "section",
    { class: "card signin", id: "signin-view", "data-testid": "signin-view", "aria-labelledby": "signin-heading" },
    h("h2", { id: "signin-heading" }, "Sign in"),
    h(
      "div",
      { class: "oauth-signin", id: "oauth-signin", "data-testid": "oauth-signin", hidden: !provider },
      h("p", { class: "hint" }, "You sign in on your organisation's sign-in page and come straight back here."),
      oauthButton,
      h(
        "p",
        { class: "hint", id: "token-paste-note", "data-testid": "token-paste-note", hidden: !(provider && tokenPaste) },
        "Developers can instead paste a token (",
        h("code", {}, "make token"),
        ") below.",
      ),
    ),
    form,
  );
  container.replaceChildren(section);

  oauthButton.addEventListener("click", async () => {
    setBusy(oauthButton, true, "Redirecting…");
    ctx.clearError();
    await account.signInWithProvider();
  });
  show.addEventListener("change", () => {
    tokenInput.type = show.checked ? "text" : "password";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim().replace(/^bearer\s+/i, "");
    const typedBase = normaliseBaseUrl(baseInput.value);
    const baseUrl = typedBase || account.defaultBaseUrl();
    setFieldError(tokenInput, token ? "" : "Paste a token to sign in.");
    setFieldError(baseInput, isValidBaseUrl(baseUrl) ? "" : "Enter an http(s) address, e.g. https://api.example.com.");
    if (!token) return tokenInput.focus();
    if (!isValidBaseUrl(baseUrl)) return baseInput.focus();
    const exp = Number(jwtClaims(token)?.exp);
    if (Number.isFinite(exp) && exp * 1000 < Date.now()) {
      setFieldError(tokenInput, `This token expired on ${formatDateTime(new Date(exp * 1000).toISOString())}. Get a new one.`);
      return tokenInput.focus();
    }

    setBusy(submit, true, "Signing in…");
    ctx.clearError();
    try {
      await account.useToken(token, typedBase);
      tokenInput.value = "";
      ctx.onSignedIn();
    } catch (error) {
      const status = error instanceof ApiError ? error.status : -1;
      const hint =
        status === 401
          ? " Check that the token is current and meant for this API."
          : status === 404 || status === 0
            ? " Is the API base URL right, and is the API running?"
            : "";
      ctx.showError(`Sign-in failed: ${errorText(error)}${hint}`, "signin");
    } finally {
      if (submit.isConnected) setBusy(submit, false);
    }
  });

  return {
    unmount() {
      container.replaceChildren();
    },
    /** Where the keyboard starts: the provider's button, or the token field. */
    focus() {
      (form.hidden ? oauthButton : tokenInput).focus();
    },
  };
}
