// The live feed: WebSocket /v1/stream, resumed after a reconnect from the last stream id received.
// Close codes (gateway stream.py): 4401 bad or expired token, 4400 unusable resume point, anything else retried.

import { session } from "./session.js";

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;

// Returns restart(): after a refused token the stream stays closed until a new sign-in restarts it.
export function openStream({ onMessage, onStatus, onRejected }) {
  let lastId = null;
  let retryMs = RETRY_MIN_MS;
  let closedForGood = false;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams({ token: session.token });
    if (lastId) params.set("last_id", lastId);
    const socket = new WebSocket(`${scheme}//${location.host}/v1/stream?${params}`);

    socket.onopen = () => {
      retryMs = RETRY_MIN_MS;
      onStatus("live", "on");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        console.error("unreadable stream message", error);
        return;
      }
      if (message.id) lastId = message.id;
      onMessage(message);
    };
    socket.onclose = (event) => {
      if (event.code === 4401) {
        closedForGood = true;
        onStatus("signed out", "dead");
        onRejected();
        return;
      }
      if (event.code === 4400) lastId = null;
      onStatus("reconnecting…", "off");
      const delay = retryMs + Math.random() * 250;
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      setTimeout(connect, delay);
    };
  }

  connect();
  return () => {
    if (!closedForGood) return;   // still connected or already retrying, now with the new token
    closedForGood = false;
    connect();
  };
}
