/* Live bus messages for the library page: a long-polling loop on
   /longpolling/poll, which answers as soon as a message arrives. */
(function () {
    "use strict";

    const body = document.body;
    const list = document.getElementById("live-messages");
    const status = document.getElementById("live-status");
    const url = "/longpolling/poll?db=" + encodeURIComponent(body.dataset.db);
    const channels = [body.dataset.channel];
    let last = 0; // id of the newest message shown

    function show(message) {
        const item = document.createElement("li");
        const text = message && typeof message === "object" && "text" in message
            ? String(message.text) : JSON.stringify(message);
        item.textContent = new Date().toLocaleTimeString() + " " + text;
        list.prepend(item);
    }

    function pause(milliseconds) {
        return new Promise((resolve) => setTimeout(resolve, milliseconds));
    }

    async function poll() {
        for (;;) {
            try {
                status.textContent = "listening";
                const response = await fetch(url, {
                    method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({channels: channels, last: last, timeout: 25}),
                });
                if (!response.ok) {
                    throw new Error("HTTP " + response.status);
                }
                for (const entry of await response.json()) {
                    last = Math.max(last, entry.id);
                    show(entry.message);
                }
            } catch (error) {
                status.textContent = "reconnecting (" + error.message + ")";
                await pause(2000); // the server restarts or is gone: try again calmly
            }
        }
    }

    poll();
}());
