// The refund form: fills the bank list from the API, verifies the account through
// POST /kcp/verifications/, shows the answer in place, and enables "Request refund" once verified.
(function () {
  "use strict";
  const form = document.getElementById("verify-form");
  if (!form) return;
  const texts = JSON.parse(document.getElementById("refund-texts").textContent);
  const result = document.getElementById("verify-result");
  const button = document.getElementById("verify-button");
  const refundButton = document.getElementById("refund-button");
  const verificationInput = document.getElementById("verification-id");
  const bankSelect = document.getElementById("bank_code");
  const english = document.documentElement.lang.startsWith("en");

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function show(kind, message) {
    result.className = "result " + kind;
    result.textContent = message;
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showFieldErrors(errors) {
    let shown = false;
    for (const [field, problems] of Object.entries(errors || {})) {
      const slot = form.querySelector('.field-error[data-field="' + field + '"]');
      const text = problems.map((p) => p.message).join(" ");
      if (slot) {
        slot.textContent = text;
        const input = document.getElementById(field);
        if (input) input.setAttribute("aria-invalid", "true");
        shown = true;
      } else {
        show("error", text);
      }
    }
    return shown;
  }

  function resetVerified() {
    refundButton.disabled = true;
    verificationInput.value = "";
  }

  async function loadBanks() {
    const response = await fetch(form.dataset.banksUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) { show("error", texts.later); return; }
    for (const bank of await response.json()) {
      const option = document.createElement("option");
      option.value = bank.code;
      option.textContent = english ? bank.name_en : bank.name_ko;
      bankSelect.appendChild(option);
    }
  }

  async function poll(location, attempts) {
    for (let i = 0; i < attempts; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const response = await fetch(location, { headers: { Accept: "application/json" } });
      if (!response.ok) break;
      const row = await response.json();
      if (row.status === "verified" || row.status === "rejected") return row;
    }
    return null;
  }

  function showOutcome(row) {
    if (row && row.status === "verified") {
      show("verified", texts.verified.replace("%(account)s", row.account_no_masked).replace("%(bank)s", row.bank_name));
      verificationInput.value = row.id;
      refundButton.disabled = false;
    } else if (row && row.status === "rejected") {
      show("rejected", texts.rejected);
    } else {
      show("later", texts.later);
    }
  }

  form.addEventListener("input", resetVerified);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    resetVerified();
    button.disabled = true;
    show("pending", texts.checking);
    try {
      const response = await fetch(form.dataset.verifyUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({
          bank_code: bankSelect.value,
          account_no: document.getElementById("account_no").value,
          owner_nm: document.getElementById("owner_nm").value,
          reference: form.dataset.reference,
        }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 400) {
        if (showFieldErrors(body.errors)) show("error", texts.fix_fields);
      } else if (response.status === 429) {
        show("error", texts.too_many);
      } else if (response.status === 201) {
        showOutcome(body);
      } else if (response.status === 202) {
        show("pending", texts.waiting);
        showOutcome(await poll(response.headers.get("Location"), 4));
      } else {
        show("error", body.message || texts.later);
      }
    } catch (error) {
      show("error", texts.later);
    } finally {
      button.disabled = false;
    }
  });
  loadBanks();
})();
