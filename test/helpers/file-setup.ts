// Runs before each test file (vitest setupFiles): the file's own database, dropped after it.
import { afterAll } from 'vitest';
import { createFileDatabase } from './file-resources.ts';

const drop = await createFileDatabase();
afterAll(drop);
