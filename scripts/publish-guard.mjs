#!/usr/bin/env node
// package.json's prepublishOnly: `npm publish` in this directory would
// publish @anythingmcp/keyrotate without its optionalDependencies (they are
// added to the packed manifest only, so that `npm ci` here needs no
// platform package), and every install of it would have no binary. A
// release goes out through scripts/release.mjs, which publishes the packed
// tarballs; npm runs no lifecycle script for a tarball, so this refuses
// every other way.
process.stderr.write(
  [
    'npm publish from this directory is refused: it would publish @anythingmcp/keyrotate without',
    'its platform packages, and no install of it would find a binary.',
    'Publish a release with:  npm run artifacts && npm run release -- [--registry URL] [--tag TAG]',
    '',
  ].join('\n'),
);
process.exit(1);
