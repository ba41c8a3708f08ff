// Builds the admin API's dashboard (web/dashboard/) into dist/dashboard/: one minified ES module and one CSS file
// with content-hashed names (served with a year of immutable caching), and index.html naming them (served no-cache).
// Run by `npm run build`; the dashboard tests call buildDashboard() before they start.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Build into `outdir` (default dist/dashboard); returns the files written and their sizes in bytes. */
export async function buildDashboard(outdir = join(root, 'dist', 'dashboard')) {
  const tmp = `${outdir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(root, 'web', 'dashboard', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome109', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: 'app-[hash]',
    outdir: tmp,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error(`dashboard build: expected one .js and one .css output, got ${outputs.join(', ')}`);
  const html = (await readFile(join(root, 'web', 'dashboard', 'index.html'), 'utf8')).replace('%APP_JS%', js).replace('%APP_CSS%', css);
  await writeFile(join(tmp, 'index.html'), html);
  await mkdir(dirname(outdir), { recursive: true });
  await rm(outdir, { recursive: true, force: true });
  const { rename } = await import('node:fs/promises');
  await rename(tmp, outdir);
  const sizes = {};
  for (const f of [...outputs, 'index.html']) sizes[f] = (await readFile(join(outdir, f))).length;
  return { outdir, sizes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outdir, sizes } = await buildDashboard(process.argv[2]);
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  process.stdout.write(`dashboard: ${Object.entries(sizes).map(([f, n]) => `${f} ${n} B`).join(', ')} (${total} B) in ${outdir}\n`);
}
