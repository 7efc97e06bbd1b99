// Express sessions kept in Kvasir: express-session with connect-redis (node-redis v5 client).
// Every session is one string key "<prefix><session id>" holding the session as JSON, with a TTL
// that follows the cookie's maxAge and is refreshed (EXPIRE through the store's touch) whenever
// the session is used without being changed.
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";

export async function createSessionApp({ redisUrl = "redis://127.0.0.1:6379", prefix = "shop:sess:", maxAgeMs = 60_000 } = {}) {
  const client = createClient({ url: redisUrl });
  client.on("error", (err) => console.error("redis client error:", err.message));
  await client.connect();

  const app = express();
  app.use(
    session({
      store: new RedisStore({ client, prefix }),
      secret: "change-me-in-production",
      name: "sid",
      resave: false, // unchanged sessions are not rewritten: the store's touch refreshes their TTL
      saveUninitialized: false, // no key for visitors who never log in
      cookie: { maxAge: maxAgeMs, httpOnly: true, sameSite: "lax" },
    }),
  );

  app.post("/login", (req, res) => {
    // A new session id on login (no fixation), then the user in it.
    req.session.regenerate((err) => {
      if (err) return res.status(500).json({ error: err.message });
      req.session.user = String(req.query.user ?? "anonymous");
      req.session.cart = [];
      res.json({ user: req.session.user });
    });
  });

  app.post("/cart", (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: "log in first" });
    req.session.cart.push(String(req.query.item));
    res.json({ cart: req.session.cart });
  });

  // Reads the session without changing it: express-session calls the store's touch.
  app.get("/me", (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: "not logged in" });
    res.json({ user: req.session.user, cart: req.session.cart });
  });

  app.post("/logout", (req, res) => {
    req.session.destroy((err) => (err ? res.status(500).json({ error: err.message }) : res.json({ ok: true })));
  });

  return { app, client, close: () => client.quit() };
}
