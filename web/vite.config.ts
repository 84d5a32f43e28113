// Builds the web inbox into the Python package, which serves it at / (services/web/).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../src/inboxhub/services/web/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline script anywhere: the page's CSP is script-src 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
