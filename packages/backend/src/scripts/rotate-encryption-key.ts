#!/usr/bin/env node
// rotate-encryption-key: re-encrypts every credential from the old
// ENCRYPTION_KEY to the new one (SECURITY.md's runbook). The command lives
// in @anythingmcp/keyrotate; this file gives it the path the runbook names.
import { run } from '@anythingmcp/keyrotate/cli'

void run()
