// Builds the admin API's dashboard (web/dashboard/) into dist/dashboard/: one minified ES module and one CSS file
// with content-hashed names (served with a year of immutable caching), and index.html naming them (served no-cache).
// Run by `npm run build`; the dashboard tests call buildDashboard() before they start. Each file is written to a
// temporary name and renamed into place (index.html last), so a server reading the folder, or a second build
// running at the same time (two test files), never sees a half-written file.
import { build } from 'esbuild';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function put(outdir, name, contents) {
  const tmp = join(outdir, `.${name}.tmp-${process.pid}`);
  await writeFile(tmp, contents);
  await rename(tmp, join(outdir, name));
}

/** Build into `outdir` (default dist/dashboard); returns the files written and their sizes in bytes. */
export async function buildDashboard(outdir = join(root, 'dist', 'dashboard')) {
  const result = await build({
    entryPoints: [join(root, 'web', 'dashboard', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome109', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'app-[hash]',
    outdir,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = result.outputFiles.map((f) => ({ name: basename(f.path), contents: f.contents }));
  const js = files.find((f) => f.name.endsWith('.js'));
  const css = files.find((f) => f.name.endsWith('.css'));
  if (!js || !css || files.length !== 2) throw new Error(`dashboard build: expected one .js and one .css output, got ${files.map((f) => f.name).join(', ')}`);
  const html = (await readFile(join(root, 'web', 'dashboard', 'index.html'), 'utf8')).replace('%APP_JS%', js.name).replace('%APP_CSS%', css.name);
  await mkdir(outdir, { recursive: true });
  for (const f of files) await put(outdir, f.name, f.contents);
  await put(outdir, 'index.html', html);
  // Files of earlier builds (their hashes differ) go once the new index.html names the new ones.
  const keep = new Set([js.name, css.name, 'index.html']);
  for (const name of await readdir(outdir)) {
    if (/^app-.*\.(js|css)$/.test(name) && !keep.has(name)) await rm(join(outdir, name), { force: true });
  }
  const sizes = { [js.name]: js.contents.length, [css.name]: css.contents.length, 'index.html': Buffer.byteLength(html) };
  return { outdir, sizes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outdir, sizes } = await buildDashboard(process.argv[2]);
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  process.stdout.write(`dashboard: ${Object.entries(sizes).map(([f, n]) => `${f} ${n} B`).join(', ')} (${total} B) in ${outdir}\n`);
}
