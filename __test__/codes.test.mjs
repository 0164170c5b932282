// One list of error codes: the Rust enum's (core/src/error/mod.rs) is the source;
// index.d.ts's ErrorCode, the CLI's exit map and the --json schema must name
// exactly the same codes, plus the CLI's own. A code added in one place and
// not the others fails here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

import { ROOT } from './helpers/run/commands.mjs';

const require = createRequire(import.meta.url);
const read = (file) => readFileSync(path.join(ROOT, file), 'utf8');
const sorted = (list) => [...new Set(list)].sort();

const CLI_CODES = ['ERR_CONFIRMATION_REQUIRED', 'ERR_DECLINED', 'ERR_USAGE', 'ERR_VERIFY_FAILED'];
// Raised by index.js before any native code runs.
const JS_CODES = ['ERR_NO_BINARY'];

test('the Rust enum, index.d.ts, the CLI exit map and the --json schema name the same codes', () => {
  const rust = sorted([...read('core/src/error/mod.rs').matchAll(/=> "((?:ERR|ABORT)_[A-Z_]+)"/g)].map((m) => m[1]));
  assert.ok(rust.length >= 17, rust.join(' '));
  const dts = read('index.d.ts');
  const union = dts.slice(dts.indexOf('export type ErrorCode'), dts.indexOf('\n\n', dts.indexOf('export type ErrorCode')));
  const api = sorted([...rust, ...JS_CODES]);
  assert.deepStrictEqual(sorted([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])), api, 'index.d.ts ErrorCode');
  const { EXIT_BY_CODE } = require('../cli/exits.js');
  assert.deepStrictEqual(sorted(Object.keys(EXIT_BY_CODE)), sorted([...api, ...CLI_CODES]), 'cli/exits.js');
  const schema = JSON.parse(read('cli/output.schema.json'));
  assert.deepStrictEqual(sorted(schema.$defs.error.properties.code.enum), sorted([...api, ...CLI_CODES]), 'cli/output.schema.json');
  const cliTypes = read('cli/index.d.ts');
  assert.deepStrictEqual(sorted([...cliTypes.slice(cliTypes.indexOf('CliErrorCode ='), cliTypes.indexOf('\n', cliTypes.indexOf('CliErrorCode ='))).matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])), CLI_CODES);
});

test('every exit status the CLI can end with is documented in --help, the schema, README and SECURITY.md', () => {
  const { STATUS, MEANINGS } = require('../cli/exits.js');
  const statuses = sorted(Object.values(STATUS).concat([129, 143]).map(String));
  const documented = sorted(MEANINGS.flatMap(([s]) => s.split(', ')));
  assert.deepStrictEqual(documented, statuses);
  const schema = JSON.parse(read('cli/output.schema.json'));
  assert.deepStrictEqual(sorted(schema.$defs.failure.properties.exit.enum.map(String)), statuses.filter((s) => s !== '0'));
  for (const doc of ['README.md', 'SECURITY.md']) {
    for (const s of statuses.filter((x) => !['129', '143'].includes(x))) assert.match(read(doc), new RegExp(`^\\| ${s}\\b`, 'm'), `${doc}: ${s}`);
  }
});

test('README and SECURITY.md name every error code in the row of the exit status it ends with', () => {
  const { STATUS, EXIT_BY_CODE } = require('../cli/exits.js');
  for (const doc of ['README.md', 'SECURITY.md']) {
    const text = read(doc);
    for (const [code, exit] of Object.entries(EXIT_BY_CODE)) {
      const status = STATUS[exit];
      const row = text.split('\n').find((line) => new RegExp(`^\\| ${status}\\b`).test(line));
      assert.ok(row, `${doc}: no row for exit ${status}`);
      assert.ok(row.includes(`\`${code}\``), `${doc}: the row of exit ${status} does not name ${code}`);
    }
  }
});

test("the Rust enum and index.d.ts name the same warning codes", () => {
  const rust = sorted([...read('core/src/warning.rs').matchAll(/rename = "(WARN_[A-Z_]+)"/g)].map((m) => m[1]));
  assert.ok(rust.length >= 7, rust.join(' '));
  const dts = read('index.d.ts');
  const union = dts.slice(dts.indexOf('export type WarningCode'), dts.indexOf('\n\n', dts.indexOf('export type WarningCode')));
  assert.deepStrictEqual(sorted([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])), rust);
});
