// Run by playwright.config.ts's webServer before the server starts: a fresh temp directory holding
// an empty data dir and the tiny model the tests download.
import { mkdir, rm } from 'node:fs/promises';
import { writeTinyModel } from '@prufed/model/node';
import { dataDir, modelDir, rootDir, tinyModel } from './fixture';

await rm(rootDir, { recursive: true, force: true });
await mkdir(dataDir, { recursive: true });
await writeTinyModel(modelDir, tinyModel);
console.log(`e2e: tiny model in ${modelDir}`);
