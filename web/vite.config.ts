// Builds the three pages (landing, host studio, watch) into build/web, which the service serves.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Plugin, defineConfig } from "vite";

const here = import.meta.dirname;

/** Puts web/partials/<name> where a page says `<!-- partial: <name> -->`, indented as the comment:
 * the stage manager's panel, the same in the studio and on a moderator's watch page, is written once. */
function partials(): Plugin {
  return {
    name: "showrunner-partials",
    transformIndexHtml: {
      order: "pre",
      handler: (html) =>
        html.replace(/^( *)<!-- partial: ([\w.-]+) -->$/gm, (_, indent: string, name: string) =>
          readFileSync(resolve(here, "partials", name), "utf8")
            .trimEnd()
            .split("\n")
            .map((line) => indent + line)
            .join("\n"),
        ),
    },
  };
}

export default defineConfig({
  root: here,
  base: "/",
  // No public/ folder: every file the pages use is imported, so it gets a hashed name.
  publicDir: false,
  plugins: [partials()],
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
