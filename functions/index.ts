/**
 * The Azure Functions entry point (package.json "main"): registers every function of src/app/functions.ts with the
 * v4 programming model. Nothing else lives here: the local host serves the same definitions.
 */
import { app } from '@azure/functions';
import { buildFunctions } from '../src/app/functions';
import { lazyServices } from '../src/app/services';
import { loadSettings } from '../src/config/settings';

app.setup({ enableHttpStream: true });

const settings = loadSettings();
for (const fn of buildFunctions(settings, lazyServices(settings))) {
  if (fn.kind === 'timer') {
    app.timer(fn.name, { schedule: fn.schedule, handler: fn.handler, runOnStartup: false, useMonitor: true });
  } else if (fn.kind === 'queue') {
    // The queue's name from its app setting (`%RUNS_QUEUE%`), the identity-based connection `RunsQueue__...` (infra/).
    app.storageQueue(fn.name, {
      queueName: `%${fn.queueSetting}%`,
      connection: fn.connection,
      handler: (message, context) => fn.handler(message, context),
    });
  } else {
    app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
  }
}
