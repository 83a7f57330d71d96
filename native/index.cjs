// Loads the engine's N-API addon built by cmake-js under build/addon, saying how to build it
// when it is missing.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const candidates = [
  path.join(__dirname, 'build', 'addon', 'pagoda.node'),
  path.join(__dirname, 'build', 'addon', 'Release', 'pagoda.node'),
];
const addonPath = candidates.find((p) => fs.existsSync(p));
if (!addonPath) {
  throw new Error(
    `The Pagoda native engine is not built (${candidates[0]} is missing). Build it with: ` +
      'cd native && npm_config_nodedir=/usr npx cmake-js compile -O build/addon',
  );
}
module.exports = require(addonPath);
