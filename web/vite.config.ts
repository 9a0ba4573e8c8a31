// Builds the three pages (landing, host studio, watch) into build/web, which the service serves.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: "/",
  // No public/ folder: every file the pages use is imported, so it gets a hashed name.
  publicDir: false,
  build: {
    outDir: resolve(here, "../build/web"),
    emptyOutDir: true,
    target: "es2022",
    // The stage's code (livekit-client) is one large chunk by nature; say so once, not per build.
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: {
        index: resolve(here, "index.html"),
        studio: resolve(here, "studio.html"),
        watch: resolve(here, "watch.html"),
      },
    },
  },
});
