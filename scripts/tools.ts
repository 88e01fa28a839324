// `npm run tools`: finds (or installs into .tools/) every binary npm does not carry, and the
// Kubernetes JSON schemas the manifest tests validate against.
// `npm run tools -- <name>` prints the path of one: temporal, temporal-test-server, localstripe.
import { BINARIES, resolveBinary, type BinaryName } from '../stack/binaries.ts';
import { resolveKubernetesSchemas } from '../stack/kubernetes-schemas.ts';

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in BINARIES));
if (unknown.length > 0) {
  console.error(`unknown tool ${unknown.join(', ')}; known: ${Object.keys(BINARIES).join(', ')}`);
  process.exit(2);
}
const names = (requested.length > 0 ? requested : Object.keys(BINARIES)) as BinaryName[];
let failed = false;
for (const name of names) {
  try {
    const file = await resolveBinary(name);
    console.log(requested.length === 1 ? file : `${name}: ${file}`);
  } catch (error) {
    failed = true;
    console.error(error instanceof Error ? error.message : error);
  }
}
if (requested.length === 0) {
  try {
    console.log(`kubernetes schemas: ${resolveKubernetesSchemas()}`);
  } catch (error) {
    failed = true;
    console.error(error instanceof Error ? error.message : error);
  }
}
process.exitCode = failed ? 1 : 0;
