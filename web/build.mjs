// Copies the page's third-party assets from node_modules (installed by `npm ci` from
// package-lock.json) into bot/web/static/vendor, where `serve` serves them: nothing comes
// from a CDN at run time. Run by `make web`.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const target = join(here, "..", "bot", "web", "static", "vendor");

// served name -> [package, file inside the package]
const assets = {
  "bootstrap.min.css": ["bootstrap", "dist/css/bootstrap.min.css"],
  "bootstrap.bundle.min.js": ["bootstrap", "dist/js/bootstrap.bundle.min.js"],
  "fullcalendar.min.js": ["fullcalendar", "index.global.min.js"],
  "luxon.min.js": ["luxon", "build/global/luxon.min.js"],
  "fullcalendar-luxon3.min.js": ["@fullcalendar/luxon3", "index.global.min.js"],
  "chart.umd.min.js": ["chart.js", "dist/chart.umd.min.js"],
};

mkdirSync(target, { recursive: true });
const versions = {};
for (const [served, [pkg, file]] of Object.entries(assets)) {
  // Source maps are not shipped: drop the comment that would make devtools ask for one.
  const text = readFileSync(join(modules, pkg, file), "utf8");
  writeFileSync(join(target, served), text.replace(/\n?\/[/*][#@] sourceMappingURL=\S+(\s*\*\/)?\s*$/, "\n"));
  const meta = JSON.parse(readFileSync(join(modules, pkg, "package.json"), "utf8"));
  versions[pkg] = meta.version;
  const license = ["LICENSE", "LICENSE.md"].find((name) => existsSync(join(modules, pkg, name)));
  copyFileSync(join(modules, pkg, license), join(target, `LICENSE.${pkg.replace("@", "").replace("/", "-")}`));
}
writeFileSync(join(target, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`web assets: ${Object.keys(assets).length} files in ${target}`);
