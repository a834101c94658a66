// Copies the ES modules the dashboard imports (and their licences) from node_modules into the gateway's static
// vendor directory, which the page loads through its import map. Run by `npm ci` (postinstall), so `make install`
// and an image build produce the same files; the directory is not in git.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "..", "dealpulse_gateway", "static", "vendor");

// source (under node_modules) -> target (under vendor); Chart.js's ES build imports ./chunks/index.js and
// @kurkle/color, so both keep their place beside it.
const FILES = {
  "chart.js/dist/chart.js": "chart.js/chart.js",
  "chart.js/dist/chunks/index.js": "chart.js/chunks/index.js",
  "chart.js/LICENSE.md": "chart.js/LICENSE.md",
  "@kurkle/color/dist/color.esm.js": "kurkle-color/color.esm.js",
  "@kurkle/color/LICENSE.md": "kurkle-color/LICENSE.md",
};

rmSync(vendor, { recursive: true, force: true });
for (const [source, target] of Object.entries(FILES)) {
  mkdirSync(dirname(join(vendor, target)), { recursive: true });
  cpSync(join(modules, source), join(vendor, target));
}
console.log(`dashboard libraries copied to ${vendor}`);
