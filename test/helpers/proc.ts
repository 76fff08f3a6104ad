// Processes in tests: the shared Proc, the CLI, and this folder's helper scripts.
import { fileURLToPath } from 'node:url';

export { CLI, Proc, startListener, startXlbRun } from '../../src/lab/proc.js';
export const helperScript = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));
