import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { createSessionApp } from "../sessions.js";

const redisUrl = process.env.KVASIR_URL ?? "redis://127.0.0.1:6379";
const prefix = `t${process.pid}:sess:`;
let app, close, server, base, inspect;

before(async () => {
  ({ app, close } = await createSessionApp({ redisUrl, prefix, maxAgeMs: 60_000 }));
  server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  inspect = createClient({ url: redisUrl });
  await inspect.connect();
});

after(async () => {
  server.close();
  await close();
  await inspect.quit();
});

function cookieOf(res) {
  return res.headers.get("set-cookie").split(";")[0];
}

test("a login creates one prefixed key holding the session, with the cookie's TTL", async () => {
  const res = await fetch(`${base}/login?user=ann`, { method: "POST" });
  assert.equal(res.status, 200);
  const cookie = cookieOf(res);
  const sid = decodeURIComponent(cookie.split("=")[1]).slice(2).split(".")[0];
  const stored = JSON.parse(await inspect.get(prefix + sid));
  assert.equal(stored.user, "ann");
  const ttl = await inspect.pTTL(prefix + sid);
  assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);

  await fetch(`${base}/cart?item=book`, { method: "POST", headers: { cookie } });
  await fetch(`${base}/cart?item=pen`, { method: "POST", headers: { cookie } });
  const me = await (await fetch(`${base}/me`, { headers: { cookie } })).json();
  assert.deepEqual(me, { user: "ann", cart: ["book", "pen"] });
  assert.deepEqual(JSON.parse(await inspect.get(prefix + sid)).cart, ["book", "pen"]);
});

test("reading an unchanged session refreshes its TTL (touch)", async () => {
  const res = await fetch(`${base}/login?user=bob`, { method: "POST" });
  const cookie = cookieOf(res);
  const sid = decodeURIComponent(cookie.split("=")[1]).slice(2).split(".")[0];
  await inspect.pExpire(prefix + sid, 5_000); // as if most of the session's life had passed
  assert.ok((await inspect.pTTL(prefix + sid)) <= 5_000);
  assert.equal((await fetch(`${base}/me`, { headers: { cookie } })).status, 200);
  const ttl = await inspect.pTTL(prefix + sid);
  assert.ok(ttl > 50_000, `TTL not refreshed: ${ttl}`);
});

test("logout deletes the key; an expired session is gone", async () => {
  const res = await fetch(`${base}/login?user=cy`, { method: "POST" });
  const cookie = cookieOf(res);
  const sid = decodeURIComponent(cookie.split("=")[1]).slice(2).split(".")[0];
  assert.equal(await inspect.exists(prefix + sid), 1);
  await fetch(`${base}/logout`, { method: "POST", headers: { cookie } });
  assert.equal(await inspect.exists(prefix + sid), 0);
  assert.equal((await fetch(`${base}/me`, { headers: { cookie } })).status, 401);

  const res2 = await fetch(`${base}/login?user=dee`, { method: "POST" });
  const cookie2 = cookieOf(res2);
  const sid2 = decodeURIComponent(cookie2.split("=")[1]).slice(2).split(".")[0];
  await inspect.pExpire(prefix + sid2, 1);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await fetch(`${base}/me`, { headers: { cookie: cookie2 } })).status, 401);
});

test("every key the sessions made carries the prefix", async () => {
  const keys = [];
  for await (const batch of inspect.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) keys.push(...batch);
  assert.ok(keys.length >= 2);
  assert.ok(keys.every((k) => k.startsWith(prefix)));
});
