// The explorer page of the Python package loads the compiled decoders: copy dist/decoders.js there (or, with
// --check, fail if the copy there differs), so there is one JavaScript codec implementation.
import { readFileSync, writeFileSync } from "node:fs";

const built = new URL("../dist/decoders.js", import.meta.url);
const explorer = new URL("../../../src/linestream/openapi/explorer/decoders.js", import.meta.url);
const header = "// Compiled from clients/typescript/src/decoders.ts by `npm run build` there: edit that file, not this one.\n";
const wanted = header + readFileSync(built, "utf8");
if (process.argv.includes("--check")) {
  if (readFileSync(explorer, "utf8") !== wanted) {
    console.error("src/linestream/openapi/explorer/decoders.js differs from the compiled decoders: run npm run build");
    process.exit(1);
  }
} else {
  writeFileSync(explorer, wanted);
}
