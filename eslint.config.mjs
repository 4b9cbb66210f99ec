// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "convex/_generated/**", "dist/**", "test-artifacts/**", "dashboard/public/vendor/**", "tools/**/cache/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-console": "off",
    },
  },
  {
    files: ["**/*.cjs", "**/*.mjs", "dashboard/public/**/*.js", "lab/runtime/**/*.js"],
    languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", console: "readonly", __dirname: "readonly", URL: "readonly", fetch: "readonly", document: "readonly", window: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", Buffer: "readonly", EventSource: "readonly", navigator: "readonly", localStorage: "readonly", sessionStorage: "readonly", location: "readonly", history: "readonly", AbortController: "readonly", Intl: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
