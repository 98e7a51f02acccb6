#!/usr/bin/env node
// `npx matchbook …`: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/matchbook.ts');
process.exit(await main(process.argv.slice(2)));
