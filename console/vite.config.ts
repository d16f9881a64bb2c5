// Builds the console into coordinator/console_dist (checked in: a clean clone serves it without npm).
// `npm run dev` proxies /v1 to a running coordinator (AGORA_COORDINATOR_URL, e.g. the devnet's).
import { defineConfig } from "vite";

declare const process: { env: Record<string, string | undefined> };

export default defineConfig({
  base: "/",
  build: {
    outDir: "../coordinator/console_dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: { "/v1": process.env.AGORA_COORDINATOR_URL || "http://127.0.0.1:8000" },
  },
});
