// Builds the console into coordinator/console_dist (checked in: a clean clone serves it without npm).
// `npm run dev` proxies /v1 to a running coordinator (AGORA_COORDINATOR_URL, e.g. the devnet's).
import { defineConfig, type Plugin } from "vite";

declare const process: { env: Record<string, string | undefined> };

/** index.html's early script preloads the chart's chunk on a job page, with the page's first reads: its name is
 * hashed at build time, so the build writes it in (the dev server leaves the placeholder, and the script skips it). */
function chartChunkName(): Plugin {
  return {
    name: "agora-chart-chunk-name",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(html, ctx) {
        const chunk = Object.values(ctx.bundle ?? {}).find((c) => c.type === "chunk" && c.name === "chart");
        if (!chunk) throw new Error("the build has no chart chunk (src/chart.ts) for index.html to preload");
        return html.replace("__CHART_CHUNK__", "/" + chunk.fileName);
      },
    },
  };
}

export default defineConfig({
  base: "/",
  plugins: [chartChunkName()],
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
