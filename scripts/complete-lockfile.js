#!/usr/bin/env node
/**
 * Some registry mirrors serve only the current platform's builds of packages such as
 * @swc/core or unrs-resolver. npm then writes a lockfile without the other platforms'
 * optional packages, and `npm ci` refuses it as out of sync. This adds a bare, optional
 * entry for each missing one: `npm ci` accepts the lockfile, and installs or skips those
 * packages by platform as usual. Run it after every change of dependencies:
 * `npm install <pkg> && npm run lock:complete`.
 */
const fs = require('node:fs');
const path = require('node:path');

const file = path.resolve(process.argv[2] ?? 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
let added = 0;
for (const [location, meta] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = location ? `${location}/node_modules/${name}` : `node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[hoisted]) continue;
    lock.packages[hoisted] = { version: range.replace(/^[\^~=]/, ''), optional: true };
    added += 1;
  }
}
if (added) fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`${path.basename(file)}: ${added} optional platform package(s) added`);
