// "Send a test to my phone": the campaign's message, as a contact without a name
// gets it, sent to one number before the campaign is launched
// (POST /campaigns/{id}/test; 10 a day per campaign).

import { ApiError, errorText } from "./api.js";
import { h } from "./dom.js";
import { field, sectionMessage, setBusy, setFieldError } from "./forms.js";

/** What to tell the user about a refused test, by the API's answer. */
export function testRefusal(error) {
  const text = errorText(error);
  if (error instanceof ApiError && error.status === 429) return `No test sent: today's tests of this campaign are used up. ${text}`;
  if (error instanceof ApiError && error.status === 409) return `No test sent now: ${text}`;
  if (error instanceof ApiError && error.status === 422) return `No test sent: ${text}`;
  return `The test could not be sent: ${text}`;
}

/** "Test sent to +1555… (9 more today)." */
export function testSentText(answer, fallbackNumber) {
  const number = answer?.phoneNumber || fallbackNumber;
  const left = Number(answer?.leftToday);
  const more = Number.isFinite(left) ? ` (${left} more ${left === 1 ? "test" : "tests"} today)` : "";
  return `Test sent to ${number}${more}. Check the phone: this is the message a contact without a first name gets.`;
}

/**
 * @param {{ idPrefix: string, send: (phoneNumber: string) => Promise<object>, onUnauthorized: (error: unknown) => boolean,
 *           hint?: string }} options  `send` makes the campaign (if need be) and posts the test.
 */
export function createTestSend({ idPrefix, send, onUnauthorized, hint }) {
  const phone = h("input", { type: "tel", inputmode: "tel", autocomplete: "tel", spellcheck: "false", "data-testid": "test-phone-input" });
  const button = h("button", { type: "button", class: "button", "data-testid": "send-test-button" }, "Send a test to my phone");
  const result = sectionMessage("test-send-result");
  const phoneField = field({
    id: `${idPrefix}-test-phone`,
    label: "Your phone number",
    control: phone,
    hint: hint ?? "In international format, e.g. +14155550100.",
  });
  phone.dataset.testid = "test-phone-input";

  button.addEventListener("click", async () => {
    const number = phone.value.trim();
    if (!/^(\+|00)\d[\d\s().-]{5,}$/.test(number)) {
      setFieldError(phone, "Enter your number with its country code, starting with +.");
      phone.focus();
      return;
    }
    setFieldError(phone, "");
    setBusy(button, true, "Sending the test…");
    result.clear();
    try {
      const answer = await send(number);
      if (answer) result.show(testSentText(answer, number));
    } catch (error) {
      if (!onUnauthorized(error)) result.show(testRefusal(error), { error: true });
    } finally {
      setBusy(button, false);
    }
  });

  return {
    node: h("div", { class: "test-send", "data-testid": "test-send" }, h("div", { class: "test-send-row" }, phoneField, button), result.node),
    phone,
    result,
  };
}
