// `node --import ./test/support/hide-packages.mjs`: makes the packages named in HIDE_PACKAGES (comma-separated)
// impossible to import, as if they were not installed, to test that the library works without them.
import { register } from 'node:module';

register('./hide-packages.hooks.mjs', import.meta.url, {
  data: { hidden: (process.env.HIDE_PACKAGES ?? '').split(',').filter(Boolean) },
});
