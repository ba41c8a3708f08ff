#!/usr/bin/env node
// npm `install` script: build the optional splice(2) addon (native/splice.c → build/Release/switchyard_splice.node)
// with node-gyp. It never fails the install: without Linux, a compiler or the Node headers, switchyard uses its
// JavaScript data path, and says so here. SWITCHYARD_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

function warn(why) {
  console.warn(`switchyard: the splice addon was not built (${why}); raw TCP passthrough uses the JavaScript path.`);
  process.exit(0);
}

if (process.platform !== 'linux') warn(`splice(2) is Linux-only, this is ${process.platform}`);
if (process.env.SWITCHYARD_SKIP_NATIVE === '1') warn('SWITCHYARD_SKIP_NATIVE=1');
// npm puts its bundled node-gyp on PATH for install scripts and names it in npm_config_node_gyp.
const gypJs = process.env.npm_config_node_gyp;
const [cmd, args] = gypJs && existsSync(gypJs) ? [process.execPath, [gypJs, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.error) warn(`cannot run node-gyp: ${r.error.message}`);
if (r.status !== 0) warn(`node-gyp exited with ${r.status ?? r.signal}`);
