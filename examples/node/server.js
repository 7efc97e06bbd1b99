// Runs the session example: KVASIR_URL=redis://127.0.0.1:6379 PORT=3000 node server.js
import { createSessionApp } from "./sessions.js";

const { app } = await createSessionApp({ redisUrl: process.env.KVASIR_URL ?? "redis://127.0.0.1:6379" });
const port = Number(process.env.PORT ?? 3000);
app.listen(port, () => console.log(`sessions example on http://127.0.0.1:${port} (POST /login?user=ann, POST /cart?item=x, GET /me)`));
