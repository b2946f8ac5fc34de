// Before a build: remove dist/ so that no module deleted from the sources lingers in a package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
