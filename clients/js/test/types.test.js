// The .d.ts checked by TypeScript (a devDependency): test/types.ts uses the API.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));

test("the declarations compile against a use of every part of the API", {
  skip: !existsSync(tsc) && "typescript is not installed (npm ci in clients/js)",
  timeout: 120_000,
}, () => {
  const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
