#!/usr/bin/env node
// The prufed command line. Registers tsx's ESM loader so that Node runs the TypeScript sources
// of the workspace packages directly, with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
