// Types shared by main.bicep and resources.bicep (compile-time import: `import { appSettingOverrides } from ...`).

// Overrides of the app's own settings. Names and meaning: src/config/settings.ts; defaults: infra/app-settings.json
// (generated from the same list). An empty value means "the default". The settings with a fixed set of values are
// typed here so that ARM refuses anything else before it creates a resource; every other key is a string, so a
// setting added to the code needs no change here.
@export()
type appSettingOverrides = {
  @description('HTTP_AUTH_LEVEL: the key the data routes need: function (a function key) or admin (the master key). Anonymous access to the data is not offered.')
  HTTP_AUTH_LEVEL: ('function' | 'admin')?

  @description('HTTP_HEALTH_AUTH_LEVEL: function (default), or anonymous so that an uptime monitor can call /api/health without a key (health only).')
  HTTP_HEALTH_AUTH_LEVEL: ('function' | 'anonymous')?

  @description('GRAPH_CLOUD: national cloud of Microsoft Graph (global, usgov = US Gov L4, usgovdod = US Gov L5/DoD).')
  GRAPH_CLOUD: ('global' | 'usgov' | 'usgovdod')?

  @description('Any other setting of src/config/settings.ts, by name.')
  *: string
}
