"use strict";
// Refreshes the bulk-verification progress panel above an admin change list while a run is going.
{
    const INTERVAL_MS = 2000;

    function schedule(panel) {
        if (panel && panel.dataset.running === "true") {
            window.setTimeout(() => refresh(panel), INTERVAL_MS);
        }
    }

    async function refresh(panel) {
        let next = panel;
        try {
            const response = await fetch(panel.dataset.url, {credentials: "same-origin"});
            if (response.ok) {
                const holder = document.createElement("template");
                holder.innerHTML = (await response.text()).trim();
                const fresh = holder.content.firstElementChild;
                if (fresh) {
                    panel.replaceWith(fresh);
                    next = fresh;
                }
            }
        } catch (error) {
            // A dropped connection: try again on the next tick.
        }
        schedule(next);
    }

    window.addEventListener("load", () => schedule(document.getElementById("kcp-bulk-progress")));
}
