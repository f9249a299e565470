#!/usr/bin/env node
// The `bitrix24-webhook-guard` command: serve (the default), doctor, fingerprint. See program.ts.
import { runCli } from './program';

void runCli(process.argv);
