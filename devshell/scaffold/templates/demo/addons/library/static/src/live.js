/* Live bus messages for the library page.

   The page arrives with the channel's latest messages, read from the bus table,
   and the id of the newest one (data-last). This script adds each new message as
   it is sent: over a WebSocket on /websocket, or by long polling
   /longpolling/poll where a socket cannot open (a proxy that does not pass them).
   Either way it asks for what is newer than the last id shown, so a reconnect
   misses nothing. Each message shows when it was sent (the bus row's time). */
(function () {
    "use strict";

    const body = document.body;
    const list = document.getElementById("live-messages");
    const status = document.getElementById("live-status");
    // data-root: the prefix a reverse proxy serves the app under (jupyter-server-proxy's /proxy/PORT)
    const root = body.dataset.root || "";
    const query = "?db=" + encodeURIComponent(body.dataset.db);
    const channels = [body.dataset.channel];
    let last = Number(body.dataset.last) || 0; // id of the newest message shown
    // what the page did, for the curious (and the tests): sockets opened, polls sent, transport in use
    const activity = window.devshellLive = {sockets: 0, polls: 0, transport: ""};

    function text(message) {
        return message && typeof message === "object" && "text" in message
            ? String(message.text) : JSON.stringify(message);
    }

    function sentAt(time, iso) {
        time.dateTime = iso;
        time.textContent = new Date(iso).toLocaleTimeString();
    }

    function show(entry) {
        if (entry.id <= last) {
            return; // already shown
        }
        last = entry.id;
        const item = document.createElement("li");
        item.dataset.id = entry.id;
        const time = document.createElement("time");
        sentAt(time, entry.sent);
        item.append(time, " " + text(entry.message));
        list.prepend(item);
    }

    function pause(milliseconds) {
        return new Promise((resolve) => setTimeout(resolve, milliseconds));
    }

    /* One WebSocket: resolves when it closes after opening, rejects when it never opened. */
    function socket() {
        return new Promise((resolve, reject) => {
            const scheme = location.protocol === "https:" ? "wss://" : "ws://";
            const ws = new WebSocket(scheme + location.host + root + "/websocket" + query);
            let opened = false;
            ws.onopen = () => {
                opened = true;
                activity.sockets += 1;
                ws.send(JSON.stringify({subscribe: channels, last: last}));
            };
            ws.onmessage = (event) => {
                const data = JSON.parse(event.data);
                if ("subscribed" in data) {
                    activity.transport = "websocket";
                    status.textContent = "listening";
                } else if ("id" in data) {
                    show(data);
                } else if ("error" in data) {
                    status.textContent = "error: " + data.error;
                }
            };
            ws.onclose = (event) => (opened ? resolve(event) : reject(new Error("the WebSocket did not open")));
        });
    }

    async function longPolling() {
        activity.transport = "long polling";
        for (;;) {
            try {
                status.textContent = "listening";
                activity.polls += 1;
                const response = await fetch(root + "/longpolling/poll" + query, {
                    method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({channels: channels, last: last, timeout: 25}),
                });
                if (!response.ok) {
                    throw new Error("HTTP " + response.status);
                }
                for (const entry of await response.json()) {
                    show(entry);
                }
            } catch (error) {
                status.textContent = "reconnecting (" + error.message + ")";
                await pause(2000); // the server restarts or is gone: try again calmly
            }
        }
    }

    async function run() {
        let everOpened = false;
        let failures = 0;
        while ("WebSocket" in window) {
            try {
                const closed = await socket();
                everOpened = true;
                failures = 0;
                // 1012: the server restarts; anything else: it went away. Reconnect from the last id either way.
                status.textContent = "reconnecting (" + (closed.code === 1012 ? "server restart" : closed.code) + ")";
            } catch (error) {
                failures += 1;
                if (!everOpened && failures >= 2) {
                    break; // WebSockets cannot reach this server: long polling can
                }
                status.textContent = "reconnecting (" + error.message + ")";
            }
            await pause(Math.min(10000, 500 * 2 ** failures) + Math.random() * 500);
        }
        await longPolling();
    }

    for (const time of list.querySelectorAll("time")) {
        sentAt(time, time.dateTime); // the server wrote UTC: show local time like the live ones
    }
    run();
}());
