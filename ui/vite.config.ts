import { defineConfig } from "vitest/config";

// Built into ui/dist, which the Tauri shell embeds (tauri.conf.json).
export default defineConfig({
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    // One module script, no inline code: the CSP forbids inline script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: "jsdom",
    environmentOptions: { jsdom: { pretendToBeVisual: true } },
    include: ["test/**/*.test.ts"],
    globals: true,
  },
});
