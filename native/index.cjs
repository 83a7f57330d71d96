// Loads the engine's N-API addon from build/addon (native/scripts/build.sh builds it), saying how to
// build it when it is missing.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const candidates = [
  path.join(__dirname, 'build', 'addon', 'pagoda.node'),
  // Where builds before the single CMake build (cmake-js) put it.
  path.join(__dirname, 'build', 'addon', 'Release', 'pagoda.node'),
];
const addonPath = candidates.find((p) => fs.existsSync(p));
if (!addonPath) {
  throw new Error(
    `The Pagoda native engine is not built (${candidates[0]} is missing). Build it with: ` +
      'bash native/scripts/build.sh addon',
  );
}
module.exports = require(addonPath);
