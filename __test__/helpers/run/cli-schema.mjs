// The CLI's --json contract: stdout holds exactly one document, and it is
// valid against cli/output.schema.json.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { ROOT } from './commands.mjs';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'cli', 'output.schema.json'), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

/** Parse stdout as one JSON document, check it against the schema and the exit status, and return it. */
export function jsonDocument(stdout, status) {
  let doc;
  assert.doesNotThrow(() => (doc = JSON.parse(stdout)), `stdout is one JSON document: ${stdout.slice(0, 200)}`);
  assert.ok(validate(doc), `valid against cli/output.schema.json: ${JSON.stringify(validate.errors, null, 1)}`);
  if (status !== undefined) assert.equal(doc.exit, status, 'the document names the exit status');
  return doc;
}
