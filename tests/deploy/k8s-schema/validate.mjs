// Validates Kubernetes objects (a JSON array on standard input) against
// the API schemas that kubernetes-models ships (generated from the
// Kubernetes OpenAPI spec).  One line per object: "ok KIND NAME" or
// "invalid KIND NAME: errors"; exit 1 when any is invalid or of a kind
// the package does not know.
import { readFileSync } from "node:fs";

const docs = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const d of docs) {
  const what = `${d.apiVersion}/${d.kind} ${d.metadata && d.metadata.name}`;
  let Model;
  try {
    Model = (await import(`kubernetes-models/${d.apiVersion}/${d.kind}`))[d.kind];
  } catch (e) {
    console.log(`invalid ${what}: no schema for this apiVersion and kind (${e.code || e.message})`);
    bad++;
    continue;
  }
  try {
    new Model(d).validate();
    console.log(`ok ${what}`);
  } catch (e) {
    console.log(`invalid ${what}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
